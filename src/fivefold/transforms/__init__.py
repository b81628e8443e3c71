"""Seeded input transforms, one implementation of each operation, per modality.

Augmentation, natural corruptions and distribution shifts call these with their own strengths
and random draws. Every transform takes a whole batch, keeps shape and dtype, and draws its
randomness only from the generator it is given.
"""
