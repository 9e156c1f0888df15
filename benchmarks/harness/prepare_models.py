"""Build the competitors' int8 ONNX model from the same local MiniLM, offline (run in the Optimum env).

``python -m benchmarks.harness.prepare_models ENCODER_DIR OUT_DIR``: Optimum exports the encoder (feature extraction)
and quantizes it dynamically for AVX-512 VNNI, the configuration Optimum, sentence-transformers'
``export_dynamic_quantized_onnx_model`` and fastembed's own int8 files use. The result
``OUT_DIR/model_quantized.onnx`` plus the tokenizer files is loaded by Optimum, the
sentence-transformers ONNX backend and fastembed alike, so the three compare the same graph.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoder", type=Path, help="the local encoder directory (Hugging Face layout)")
    parser.add_argument("out", type=Path, help="where model_quantized.onnx and the tokenizer files go")
    args = parser.parse_args(argv)
    from optimum.onnxruntime import ORTModelForFeatureExtraction, ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig
    from transformers import AutoTokenizer

    encoder, out = args.encoder, args.out
    if (out / "model_quantized.onnx").is_file():
        print(f"{out}/model_quantized.onnx exists")
        return
    fp32 = out / "fp32"
    ORTModelForFeatureExtraction.from_pretrained(encoder, export=True, local_files_only=True).save_pretrained(fp32)
    quantizer = ORTQuantizer.from_pretrained(fp32)
    config = AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=False)
    quantizer.quantize(save_dir=out, quantization_config=config)
    AutoTokenizer.from_pretrained(encoder).save_pretrained(out)
    for name in ("config.json", "special_tokens_map.json", "tokenizer_config.json", "tokenizer.json"):
        if not (out / name).is_file() and (encoder / name).is_file():
            shutil.copy(encoder / name, out / name)
    shutil.rmtree(fp32)
    print(f"wrote {out}/model_quantized.onnx")


if __name__ == "__main__":
    main()
