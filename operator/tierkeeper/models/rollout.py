"""What runs where: the app's desired Deployments, decided by the Release controller.

Kept in `Release.status.rollout`, so the Environment controller renders exactly what
the Release controller decided, and a restarted operator knows it too.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from tierkeeper.models.base import Model
from tierkeeper.models.environment import StrategyType
from tierkeeper.models.resolved import ResolvedEnvironment


class Color(StrEnum):
    """A blue-green colour: the active Service selects one, the preview Service the other."""

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
    """The app's Deployments and what the active Service selects.

    `image` is the Rolling Deployment's (absent: none), `colors` the colour Deployments (a
    colour absent has none). Both exist only while the Environment changes strategy
    (`shape` then says which one serves); otherwise the Environment's strategy decides.
    """

    image: str | None = Field(None, max_length=512, description="Image of the Rolling Deployment.")
    active: Color = Field(Color.BLUE, description="Colour the active Service selects.")
    colors: dict[Color, ColorRollout] = Field(
        default_factory=dict, description="Deployment of each colour (BlueGreen)."
    )
    shape: StrategyType | None = Field(
        None,
        description="Strategy whose Deployments the active Service selects while the "
        "Environment changes strategy: BlueGreen selects the active colour, Rolling every "
        "app pod.",
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
        """The image behind the active Service."""
        if not self.serves_colors(env):
            return self.image
        active = self.colors.get(self.active)
        return active.image if active else None

    def serves_colors(self, env: ResolvedEnvironment) -> bool:
        """Whether the active Service selects a colour (else every app pod)."""
        if self.shape is not None:
            return self.shape is StrategyType.BLUE_GREEN
        if self.colors or self.image is not None:
            return bool(self.colors)
        return env.blue_green

    def reshaping(self, env: ResolvedEnvironment) -> bool:
        """Deployments of the other strategy exist, or serve: the Environment's strategy
        changed under a live app."""
        if self.image is None and not self.colors:
            return False
        if env.blue_green:
            return self.image is not None or not self.serves_colors(env)
        return bool(self.colors) or self.serves_colors(env)
