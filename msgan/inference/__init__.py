"""Using a trained model: samplers and generation, translation, MindIR/ONNX export, the Data/
folder and its manifest. Never imports the training package: a model file and a snapshot or an
export are all it needs."""
