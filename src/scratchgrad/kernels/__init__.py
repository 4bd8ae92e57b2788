"""Array kernels: the computations of the ops on arrays, below the Functions of ``ops/``.

Nothing here knows about Tensor or autograd (a test checks the imports): each kernel takes and
returns arrays of the backend's array module (NumPy, or CuPy on a GPU).

- ``conv``: the im2col + GEMM and Winograd kernels of 2-D convolution (forward, input and weight
  gradients), ``winograd``: the Winograd transforms, ``geometry``: ``ConvGeometry``;
- ``batchnorm``: batch statistics, normalization and its closed-form backward, in cache-sized blocks;
- ``pool``: max and average pooling over windows, and their scatters back.
"""
