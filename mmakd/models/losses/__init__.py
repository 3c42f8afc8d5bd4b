from .fgd_loss import FGDLoss
from .maskd_loss import MasKDLoss, TokensCheckpointMismatch
from .receptive_tokens import ReceptiveTokens, dice_diversity
from .uncertainty_aware_kd_loss import UncertaintyAwareKDLoss

__all__ = [
    'FGDLoss', 'MasKDLoss', 'ReceptiveTokens', 'TokensCheckpointMismatch',
    'UncertaintyAwareKDLoss', 'dice_diversity'
]
