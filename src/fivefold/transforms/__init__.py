"""Seeded input transforms, one implementation of each operation, per modality.

Augmentation, natural corruptions and distribution shifts call these with their own strengths
and random draws. Every transform takes a whole batch, keeps shape and dtype, and draws its
randomness only from the generator it is given.

- :mod:`~fivefold.transforms.common`: gaussian and poisson noise, scaling, integer shifts and
  window masking, for any modality;
- :mod:`~fivefold.transforms.image`: rotation and translation, flips, contrast, brightness,
  blur, pixelation;
- :mod:`~fivefold.transforms.series`: resampling, time warps, random knot curves, window
  slicing, segment permutation;
- :mod:`~fivefold.transforms.tabular`: numeric columns, missing values, category flips;
- :mod:`~fivefold.transforms.text`: edits of raw strings and of token ids.

This package sits below :mod:`fivefold.data`: it imports only torch and the standard library,
so the transforms take plain tensors and parameters (bounds, one-hot groups as column tuples).
"""
