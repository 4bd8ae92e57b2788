"""The runtime under the kernels: how they use the machine, independent of any op.

Nothing here knows about Tensor or autograd (a test checks the imports).

- ``threads``: the ways to split a kernel's work over the cores (blocks, chunks, BLAS products
  in blocks, elementwise kernels, copies), and whether a kernel's tasks are worth the threads;
- ``workers``: the threads themselves (a pool woken by semaphores, one per process);
- ``blas``: BLAS held to one thread while the pool's tasks run;
- ``workspace``: recycled memory for large arrays (``workspace.release()`` hands it back).
"""
