"""Transfer learning: pretrain (or load) an encoder on a source, then fine-tune on the target.

- :mod:`.config`: the options.
- :mod:`.source`: training the same model on a source data set, with a cache.
- :mod:`.weights`: loading matching encoder tensors from a checkpoint.
- :mod:`.blocks`: the encoder blocks of gradual unfreezing and layer-wise lr decay.
- :mod:`.technique`: the ``transfer`` technique itself.
"""

from fivefold.techniques.transfer.blocks import Block, encoder_blocks, lr_scales
from fivefold.techniques.transfer.config import TransferConfig
from fivefold.techniques.transfer.technique import Transfer

__all__ = ["Block", "Transfer", "TransferConfig", "encoder_blocks", "lr_scales"]
