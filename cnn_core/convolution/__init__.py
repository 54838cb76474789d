"""The convolution lab: convolution and pooling in NumPy (`ops`), hand-made kernels (`kernels`), and the
convolution page's figures and formulas (`figures`). Nothing here imports TensorFlow: the page starts fast.
"""
