"""What runs where: the app's desired Deployments, decided by the Release controller.

Kept in `Release.status.rollout`, so the Environment controller renders exactly what
the Release controller decided, and a restarted operator knows it too.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from tierkeeper.models.base import Model
from tierkeeper.models.resolved import ResolvedEnvironment


class Color(StrEnum):
    BLUE = "blue"
    GREEN = "green"

    @property
    def other(self) -> Color:
        return Color.GREEN if self is Color.BLUE else Color.BLUE


class ColorRollout(Model):
    """One colour's Deployment."""

    image: str = Field(max_length=512, description="Image this colour runs.")
    replicas: int = Field(ge=0, le=1000, description="Replicas of this colour.")


class AppRollout(Model):
    """Rolling uses `image` (absent: no Deployment yet); BlueGreen uses `colors` (a colour
    absent has no Deployment) and `active`, the colour the active Service selects."""

    image: str | None = Field(None, max_length=512, description="Image of the Rolling Deployment.")
    active: Color = Field(Color.BLUE, description="Colour the active Service selects.")
    colors: dict[Color, ColorRollout] = Field(
        default_factory=dict, description="Deployment of each colour (BlueGreen)."
    )

    @classmethod
    def first(cls, env: ResolvedEnvironment, image: str) -> AppRollout:
        """The rollout of a first Release: the image in the Rolling Deployment, or in blue
        with green created idle (no replicas) so both colours exist from the start."""
        if not env.blue_green:
            return cls(image=image)
        return cls(
            colors={
                Color.BLUE: ColorRollout(image=image, replicas=env.spec.app.replicas),
                Color.GREEN: ColorRollout(image=image, replicas=0),
            }
        )

    def active_image(self, env: ResolvedEnvironment) -> str | None:
        if not env.blue_green:
            return self.image
        active = self.colors.get(self.active)
        return active.image if active else None
