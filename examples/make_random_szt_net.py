#!/usr/bin/python3
"""Writes examples/szt_random_net.safetensors: the paper's 12-10-7-5-4-3-2 tanh network
(docs/method.md#the-szt-task) with PyTorch's default nn.Linear initialisation scaled by 4 (so that the
tanh layers saturate and compress, as after training), seed 0. Pure numpy + json, the
layout `infoflow mi` reads: layers.{i}.weight (out x in), layers.{i}.bias, activations in
the metadata.
"""
import json
import os
import struct

import numpy as np

rng = np.random.default_rng(0)
sizes = [12, 10, 7, 5, 4, 3, 2]
header, data = {"__metadata__": {"activations": ",".join(["tanh"] * 5 + ["linear"])}}, b""
for i in range(len(sizes) - 1):
    bound = 1 / np.sqrt(sizes[i])
    for name, shape, scale in (("weight", (sizes[i + 1], sizes[i]), 4.0), ("bias", (sizes[i + 1],), 1.0)):
        v = (rng.uniform(-bound, bound, shape) * scale).astype(np.float32)
        header[f"layers.{i}.{name}"] = {"dtype": "F32", "shape": list(shape),
                                        "data_offsets": [len(data), len(data) + v.nbytes]}
        data += v.tobytes()
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "szt_random_net.safetensors")
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
print(out)
