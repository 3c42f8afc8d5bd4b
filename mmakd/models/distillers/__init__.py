from .avatar_distiller import AvatarDistiller

__all__ = ['AvatarDistiller']
