"""colorizer export: a model's network as an ONNX file (colorizer.export)."""
import sys

from .common import error

DESCRIPTION = (
    "Export the network of a model to ONNX, for ONNX Runtime (colorize --backend onnxruntime --model FILE.onnx) or any "
    "ONNX runtime (C#, C++, JavaScript, phones). The graph takes L* (batch, 1, height, width), float32 in [0, 100] (and, "
    "for a hint-aware model, hints (batch, 3, height, width)), with batch, height and width dynamic but height and width "
    "MULTIPLES OF 32: pad the bottom and right edges by reflection up to a multiple of 32 first (the network's own padding "
    "depends on the shape, so it is not in the graph), then crop the outputs to half the unpadded size, rounded up. It "
    "gives the colour-class scores ('logits') and/or a,b ('ab') at half resolution, and the scores averaged over 2x2 "
    "blocks ('logits_pool2', what min-risk decoding reads with hints), and for a model with a fast head (the bundled "
    "default) 'logits_fast', the same scores from a light head that skips the network's stride-2 stage (what min-risk "
    "reads without hints). Ask only for the outputs you use, from a graph cut down to them (ONNX Runtime computes every "
    "node of a graph). The decoding to colours stays outside the graph (colorizer.decoding). The file's metadata "
    "describes it: architecture, config, the colour classes (bins), class weights and prior, the decoding settings, "
    "the input normalisation and the colorizer version. The file is "
    "checked with onnx.checker and run by ONNX Runtime and compared with PyTorch. The unet models export; seed "
    "does not.")


def add_parser(sub):
    p = sub.add_parser("export", help="export a model's network to ONNX", description=DESCRIPTION)
    p.add_argument("model", nargs="?", default=None, metavar="MODEL",
                   help="bundled model name or .safetensors path (default: the bundled default)")
    p.add_argument("-o", "--out", required=True, metavar="FILE.onnx", help="the ONNX file to write (replaced if it exists)")


def run(a):
    from ..backends import BackendError
    from ..export import export_model
    from ..files import display
    from ..model_files import WeightsError

    if not a.out.lower().endswith(".onnx"):
        return error(f"-o must name a .onnx file, not {a.out!r}")
    try:
        result = export_model(a.model, a.out)
    except (WeightsError, BackendError) as e:
        return error(e)
    except OSError as e:
        return error(f"cannot write {a.out} ({e.strerror or e})")
    inputs = ", ".join(result.inputs)
    print(f"{display(result.path)}: {result.arch} network, inputs {inputs}, outputs {', '.join(result.outputs)}, "
          f"{result.bytes / 1e6:.1f} MB; onnx.checker passed", file=sys.stderr)
    if result.max_difference:
        diffs = ", ".join(f"{k} {v:.1e}" for k, v in result.max_difference.items())
        print(f"ONNX Runtime vs PyTorch on a 64x96 test input, max |difference|: {diffs}", file=sys.stderr)
    return 0
