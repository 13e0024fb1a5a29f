"""`depthmaster-ros infer IMAGE --model M -o OUT.npy`: one image -> raw relative map + colour PNG."""
from pathlib import Path
import sys


def add_arguments(parser):
    from depthmaster_ros.model import backend_names
    parser.add_argument('image', help='input image file (anything OpenCV reads)')
    parser.add_argument('--model', required=True, help='model directory (official layout) or hub id')
    parser.add_argument('-o', '--output', required=True,
                        help='output .npy (H x W float32, input resolution); a colourised .png is written beside it')
    parser.add_argument('--processing-res', type=int, default=768,
                        help='longer edge used for inference, 0 = native (default 768)')
    parser.add_argument('--dtype', choices=('fp32', 'fp16', 'bf16'), default='fp32')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N] (default cpu)')
    parser.add_argument('--backend', choices=backend_names(), default='depthmaster')
    parser.add_argument('--marigold-steps', type=int, default=4)
    parser.add_argument('--marigold-ensemble-size', type=int, default=1)


def colourise(unit_map):
    """Spectral colour map of values in [0,1] (as the official run.py writes it), as BGR uint8."""
    import matplotlib
    import numpy as np
    rgba = matplotlib.colormaps['Spectral'](np.clip(unit_map, 0.0, 1.0), bytes=True)
    return np.ascontiguousarray(rgba[..., 2::-1])


def run(args):
    import cv2
    import numpy as np

    from depthmaster_ros.model import ModelLoadError, load_estimator, parameter_options

    bgr = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if bgr is None:
        print(f'image: cannot read {args.image}', file=sys.stderr)
        return 2
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    try:
        options = parameter_options(args.backend, vars(args))
        estimator = load_estimator(backend=args.backend, model=args.model, device=args.device, dtype=args.dtype,
                                   **options)
        prediction = estimator.predict(rgb, processing_res=args.processing_res)
    except (ModelLoadError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    np.save(output, prediction.relative.astype(np.float32))
    cv2.imwrite(str(output.with_suffix('.png')), colourise(prediction.relative))
    if prediction.confidence is not None:
        np.save(output.with_name(output.stem + '_confidence.npy'), prediction.confidence)

    height, width = prediction.relative.shape
    print(f'space: {prediction.space} ({"1 = near" if prediction.space == "sqrt_disparity" else "0 = near"})')
    print(f'size: {width}x{height}  min {prediction.relative.min():.4f}  max {prediction.relative.max():.4f}')
    for stage, seconds in prediction.timings.items():
        print(f'{stage:>12}: {seconds * 1000:9.1f} ms')
    print(f'{"total":>12}: {sum(prediction.timings.values()) * 1000:9.1f} ms')
    print(f'wrote {output} and {output.with_suffix(".png")}')
    return 0
