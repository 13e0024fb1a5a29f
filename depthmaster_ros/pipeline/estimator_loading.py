"""The estimator a configuration names, with 'auto' device and dtype made concrete."""
from depthmaster_ros.config import ModelSettings
from depthmaster_ros.model import Estimator, from_pretrained, parameter_options


def resolve_runtime(device: str, dtype: str) -> tuple[str, str]:
    """Turn the 'auto' device/dtype parameters into concrete names: cuda + bf16, or cpu + fp32."""
    import torch
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if dtype == 'auto':
        dtype = 'bf16' if device.startswith('cuda') else 'fp32'
    return device, dtype


def load_configured_estimator(settings: ModelSettings) -> Estimator:
    """The estimator the model settings describe (raises ModelLoadError with the fix when unusable)."""
    if settings.model_sha256:
        from depthmaster_ros.model import verify_model_sha256
        verify_model_sha256(settings.model, settings.model_sha256)
    device, dtype = resolve_runtime(settings.device, settings.dtype)
    options = parameter_options(settings.backend, vars(settings))
    return from_pretrained(settings.backend, settings.model, device, dtype, **options)
