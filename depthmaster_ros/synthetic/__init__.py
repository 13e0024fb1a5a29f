"""A ray-cast scene with exact ground truth: the sample bag, the alignment evaluation and the tests use it."""
