from .uncertainty_aware_kd_loss import UncertaintyAwareKDLoss

__all__ = ['UncertaintyAwareKDLoss']
