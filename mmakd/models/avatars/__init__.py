from .avatar_generator import AvatarGenerator
from .perturbations import (PERTURBATIONS, ChannelDropout, ElementDropout,
                            GaussianNoise, SpatialMask)

__all__ = [
    'AvatarGenerator', 'PERTURBATIONS', 'ChannelDropout', 'ElementDropout',
    'GaussianNoise', 'SpatialMask'
]
