"""
From what the user writes to arrays: the formula split into fixed and random parts,
the frame read into model inputs (missing rows, nullable columns, offsets), the
random-effect terms with their covariance layout, and the assembled design.
"""
