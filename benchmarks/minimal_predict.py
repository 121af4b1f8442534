"""The baseline for target 1: the least a hand-written script does to classify one row.

    python benchmarks/minimal_predict.py MODEL.onnx 5.1,3.5,1.4,0.2
"""

import sys

import numpy as np
import onnxruntime as ort

sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = np.array([[float(v) for v in sys.argv[2].split(",")]], dtype=np.float32)
print(int(sess.run(None, {sess.get_inputs()[0].name: x})[0].argmax(1)[0]))
