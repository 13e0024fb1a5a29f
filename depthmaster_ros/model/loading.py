"""Load a DepthMaster checkpoint in the official layout (local directory or hub id).

The official UNet is stock diffusers' plus ``fftblock.*`` tensors. We load the stock UNet (which
drops those keys; that one warning is silenced), build our FourierEnhancement from the same weights
file, and compute the empty-prompt embedding once so the text encoder can be freed.
Every unusable part raises ModelLoadError naming the file and the fix.
"""
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import json
import logging
import os
from pathlib import Path
import re
from typing import TYPE_CHECKING, TypeVar

import torch

from .errors import ModelError, ModelLoadError
from .fourier_enhancement import FourierEnhancement

if TYPE_CHECKING:
    # the defining modules: diffusers' top-level names are placeholder classes to a type checker
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

# A model directory or a hub id owner/name.
ModelSource = str | os.PathLike[str]
Loaded = TypeVar('Loaded')

DEPTHMASTER_COMPONENTS = ('unet', 'vae', 'text_encoder', 'tokenizer')
WEIGHTS_NAMES = ('diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin',
                 'model.safetensors', 'pytorch_model.bin')
FFT_PREFIX = 'fftblock.'
_CONFIG_NAMES = {'tokenizer': 'tokenizer_config.json', 'scheduler': 'scheduler_config.json'}
_HUB_ID = re.compile(r'^[A-Za-z0-9][\w.-]*/[\w.-]+$')
# huggingface_hub's command-line tool is `hf`
_PASS_DIR = ('pass DIR to the node with `-p model:=DIR` (or `model: DIR` in its params file) and to '
             '`bag`, `batch` and `infer` with `--model DIR`')
_FIX_DOWNLOAD = f're-download the checkpoint (`hf download zysong212/DepthMaster --local-dir DIR`) and {_PASS_DIR}'


def _hub_offline() -> bool:
    from huggingface_hub import constants
    env = os.environ.get('HF_HUB_OFFLINE', '').strip().lower() in ('1', 'true', 'yes', 'on')
    return env or bool(constants.HF_HUB_OFFLINE)


def resolve_model_directory(model: ModelSource) -> Path:
    """A local directory as is; an ``owner/name`` hub id through the local cache (offline-friendly).

    Either way the directory is checked (`check_model_directory`) before any file in it is read.
    """
    if not isinstance(model, (str, os.PathLike)) or not str(model):
        raise ModelError(f'model: expected a directory or a hub id, got {model!r}')
    path = Path(model).expanduser()
    if path.is_dir():
        return check_model_directory(path)
    if path.exists():
        raise ModelLoadError(f'{path}: is a file, expected a model directory (with model_index.json)')
    text = str(model)
    if not _HUB_ID.match(text):
        raise ModelLoadError(
            f'{path}: model directory does not exist; pass an existing directory in the official layout '
            '(write a test one with `depthmaster-ros make-tiny-model DIR`) or a hub id owner/name')
    offline = _hub_offline()
    unreachable = None if offline else _hub_unreachable(text)
    try:
        from huggingface_hub import snapshot_download
        snapshot = Path(snapshot_download(text, local_files_only=offline or unreachable is not None))
    except Exception as error:  # noqa: BLE001 - hub errors are many types; all mean "not usable here"
        if offline:
            how = f'HF_HUB_OFFLINE is set and it is not in the local hub cache ({type(error).__name__})'
        elif unreachable:
            how = f'it is not in the local hub cache and the hub could not be reached ({unreachable})'
        else:
            detail = (str(error).strip().splitlines() or [''])[0][:200]
            how = (f'it is not in the local hub cache and could not be downloaded '
                   f'({type(error).__name__}{": " + detail if detail else ""})')
        raise ModelLoadError(
            f'{text}: no local directory of that name and hub id {text!r} is unusable: {how}. '
            f'The hub cache searched: {_hub_cache()} (`make demo` downloads into the repository\'s '
            f'.cache/huggingface: export HF_HOME=<repository>/.cache/huggingface to use it). Or download it on a '
            f'machine with internet (`hf download {text} --local-dir DIR`), copy DIR here and {_PASS_DIR}') from None
    return check_model_directory(snapshot)


# Keys in a model's JSON files that make diffusers or transformers import code shipped with the model.
REMOTE_CODE_KEYS = ('auto_map', 'trust_remote_code', 'custom_pipeline')
# The libraries a model_index.json may name for its components: their classes are the installed ones.
COMPONENT_LIBRARIES = ('diffusers', 'transformers', None)


def _boundary(directory: Path) -> Path:
    """What the files may point into: the directory, or for a hub cache snapshot the repo's cache folder
    (the snapshot's files are links to its blobs)."""
    resolved = directory.resolve()
    return resolved.parent.parent if resolved.parent.name == 'snapshots' else resolved


def check_model_directory(directory: Path) -> Path:
    """Refuse links that leave the model directory and configuration that asks for code of its own.

    Weights are read only from safetensors or with ``torch.load(weights_only=True)`` (no pickle code
    runs); what is left to a crafted directory is a link to a file elsewhere on the machine and a
    config that makes the libraries import a module shipped with it. Both are refused here, before any
    library opens the directory.
    """
    root = _boundary(directory)
    for path in sorted(directory.rglob('*')):
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            raise ModelLoadError(f'{path}: a link to {path.resolve()}, outside the model directory {root}; '
                                 'copy the file into the directory instead')
    for path in sorted(directory.rglob('*.json')):
        _check_no_remote_code(path)
    return directory


def _check_no_remote_code(path: Path) -> None:
    try:
        config = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, OSError):
        return                      # check_layout and the loaders say which file is broken
    if not isinstance(config, dict):
        return
    asked = [key for key in REMOTE_CODE_KEYS if config.get(key)]
    if path.name == 'model_index.json':
        if isinstance(config.get('_class_name'), list):
            asked.append(f'_class_name {config["_class_name"]}')
        asked += [f'{name} from {entry[0]}' for name, entry in config.items()
                  if isinstance(entry, list) and len(entry) == 2 and not name.startswith('_')
                  and entry[0] not in COMPONENT_LIBRARIES]
    if asked:
        raise ModelLoadError(f'{path}: asks for code shipped with the model ({", ".join(asked)}); '
                             'depthmaster_ros runs only the installed diffusers and transformers classes. '
                             f'Remove it or use the official checkpoint ({_FIX_DOWNLOAD})')


def verify_model_sha256(model: ModelSource, expected: str) -> None:
    """Hash the model directory's files and compare with ``expected`` (the `model_sha256` parameter)."""
    from .provenance import model_sha256
    if not re.fullmatch(r'[0-9a-fA-F]{64}', expected):
        raise ModelLoadError(f'model_sha256: {expected!r} is not a sha256 (64 hexadecimal digits); '
                             'print it with `depthmaster-ros security model-sha256 DIR`')
    directory = resolve_model_directory(model)
    found = model_sha256(directory)
    if found != expected.lower():
        raise ModelLoadError(f'{directory}: its files hash to {found}, not model_sha256 {expected.lower()}: '
                             'the directory changed since it was pinned; refusing to load it')


def _hub_cache() -> str:
    from huggingface_hub import constants
    return str(constants.HF_HUB_CACHE)


def _hub_unreachable(repo_id: str) -> str | None:
    """None when the hub answers within HF_HUB_ETAG_TIMEOUT seconds, else why not.

    snapshot_download's first request has no timeout, so on a network that drops packets it would
    wait for minutes; this one short request decides whether to download or to use the cache only.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError
    try:
        HfApi().repo_info(repo_id, timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except HfHubHTTPError:        # the hub answered (not found, gated, ...): snapshot_download says what
        return None
    except Exception as error:  # noqa: BLE001 - connection refused, DNS, timeout, proxy: the hub is out of reach
        detail = (str(error).strip().splitlines() or [''])[0][:120]
        return (f'{type(error).__name__}{": " + detail if detail else ""}; '
                f'waited at most HF_HUB_ETAG_TIMEOUT={constants.HF_HUB_ETAG_TIMEOUT} s')
    return None


def check_layout(directory: Path, components: Iterable[str]) -> None:
    """model_index.json and one folder per component, each with its config."""
    index = directory / 'model_index.json'
    if not index.is_file():
        raise ModelLoadError(f'{index}: missing; not a diffusers pipeline directory, {_FIX_DOWNLOAD}')
    try:
        json.loads(index.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelLoadError(f'{index}: not valid JSON ({error}); {_FIX_DOWNLOAD}') from None
    for component in components:
        folder = directory / component
        if not folder.is_dir():
            raise ModelLoadError(f'{folder}: component folder missing; {_FIX_DOWNLOAD}')
        config = folder / _CONFIG_NAMES.get(component, 'config.json')
        if not config.is_file():
            raise ModelLoadError(f'{config}: missing; {_FIX_DOWNLOAD}')


def find_weights_file(folder: Path) -> Path:
    for name in WEIGHTS_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise ModelLoadError(
        f'{folder / WEIGHTS_NAMES[0]}: missing (nor {", ".join(WEIGHTS_NAMES[1:])}); {_FIX_DOWNLOAD}')


def read_weights(weights_file: Path, prefix: str = '') -> dict[str, torch.Tensor]:
    """Tensors whose key starts with `prefix`, from .safetensors or .bin; corrupt files -> ModelLoadError."""
    try:
        if weights_file.suffix == '.safetensors':
            from safetensors import safe_open
            with safe_open(str(weights_file), framework='pt') as handle:
                return {key: handle.get_tensor(key) for key in handle.keys() if key.startswith(prefix)}
        state = torch.load(weights_file, map_location='cpu', weights_only=True, mmap=True)
        return {key: value for key, value in state.items() if key.startswith(prefix)}
    except Exception as error:  # noqa: BLE001 - safetensors and pickle raise several unrelated types
        raise ModelLoadError(
            f'{weights_file}: corrupt or truncated weights file ({type(error).__name__}: {error}); '
            f'{_FIX_DOWNLOAD}') from None


def check_weights_readable(weights_file: Path) -> None:
    """Open the file's index so that a corrupt file is reported by name before a library trips on it."""
    read_weights(weights_file, prefix='\0')  # no key starts with NUL: reads the index, not the tensors


def load_fourier_enhancement(weights_file: Path, channels: int) -> FourierEnhancement:
    """Our FE block filled from the ``fftblock.*`` tensors of the UNet weights file."""
    state = {key[len(FFT_PREFIX):]: value for key, value in read_weights(weights_file, FFT_PREFIX).items()}
    if not state:
        raise ModelLoadError(
            f'{weights_file}: contains no {FFT_PREFIX}* tensors, so it is a stock SD/Marigold UNet, not a '
            f'DepthMaster checkpoint; {_FIX_DOWNLOAD}')
    fourier = FourierEnhancement(channels)
    try:
        fourier.load_state_dict({key: value.float() for key, value in state.items()}, strict=True)
    except RuntimeError as error:
        raise ModelLoadError(
            f'{weights_file}: {FFT_PREFIX}* tensors do not match a {channels}-channel Fourier Enhancement '
            f'block ({error})') from None
    return fourier


class _DropFourierUnusedWarning(logging.Filter):
    """diffusers warns that fftblock.* weights are unused: expected, we load them ourselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if 'were not used when initializing' not in message:
            return True
        keys = re.findall(r'[\w.]+', message.split(':', 1)[-1].split('[', 1)[-1])
        return not keys or not all(key.startswith(FFT_PREFIX) for key in keys)


@contextmanager
def _fourier_warning_silenced() -> Iterator[None]:
    logger = logging.getLogger('diffusers.models.modeling_utils')
    dropper = _DropFourierUnusedWarning()
    logger.addFilter(dropper)
    try:
        yield
    finally:
        logger.removeFilter(dropper)


def load_component(what: str, folder: Path, load: Callable[[], Loaded]) -> Loaded:
    """Run a library loader; any failure becomes a ModelLoadError naming the folder."""
    try:
        return load()
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: BLE001 - diffusers and transformers raise many types for a bad folder
        raise ModelLoadError(f'{folder}: cannot load the {what} ({type(error).__name__}: {error}); '
                             f'{_FIX_DOWNLOAD}') from None


def compute_empty_text_embedding(directory: Path) -> torch.Tensor:
    """The official conditioning: "" -> [BOS, EOS] -> CLIP last_hidden_state [1, 2, D], fp32."""
    from transformers import CLIPTextModel, CLIPTokenizer
    tokenizer = load_component('tokenizer', directory / 'tokenizer',
                                lambda: CLIPTokenizer.from_pretrained(directory / 'tokenizer'))
    find_weights_file(directory / 'text_encoder')
    text_encoder = load_component('text encoder', directory / 'text_encoder',
                                   lambda: CLIPTextModel.from_pretrained(directory / 'text_encoder'))
    ids = tokenizer('', padding='do_not_pad', max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors='pt').input_ids
    # no_grad, not inference_mode: fine-tuning saves the embedding for backward and DDP syncs it as a buffer,
    # which autograd refuses for an inference tensor
    with torch.no_grad():
        embedding: torch.Tensor = text_encoder.float()(ids)[0].float().clone()
    del text_encoder
    return embedding


@dataclass
class DepthMasterParts:
    unet: 'UNet2DConditionModel'
    vae: 'AutoencoderKL'
    fourier: FourierEnhancement
    empty_text_embedding: torch.Tensor
    directory: Path


def load_depthmaster_parts(model: ModelSource, dtype: torch.dtype = torch.float32) -> DepthMasterParts:
    """UNet and VAE in `dtype` (on CPU), FE block in fp32, empty-text embedding [1,2,D] fp32."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    directory = resolve_model_directory(model)
    check_layout(directory, DEPTHMASTER_COMPONENTS)
    unet_weights = find_weights_file(directory / 'unet')
    check_weights_readable(unet_weights)
    find_weights_file(directory / 'vae')

    with _fourier_warning_silenced():
        unet = load_component('UNet', directory / 'unet',
                               lambda: UNet2DConditionModel.from_pretrained(directory / 'unet', dtype=dtype))
    fourier = load_fourier_enhancement(unet_weights, unet.config.block_out_channels[-1])
    vae = load_component('VAE', directory / 'vae',
                          lambda: AutoencoderKL.from_pretrained(directory / 'vae', dtype=dtype))
    embedding = compute_empty_text_embedding(directory)
    if embedding.shape[-1] != unet.config.cross_attention_dim:
        raise ModelLoadError(
            f'{directory / "text_encoder"}: hidden size {embedding.shape[-1]} differs from the UNet '
            f'cross_attention_dim {unet.config.cross_attention_dim}')
    return DepthMasterParts(unet, vae, fourier, embedding, directory)
