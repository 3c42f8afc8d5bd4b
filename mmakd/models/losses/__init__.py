from .fgd_loss import FGDLoss
from .uncertainty_aware_kd_loss import UncertaintyAwareKDLoss

__all__ = ['FGDLoss', 'UncertaintyAwareKDLoss']
