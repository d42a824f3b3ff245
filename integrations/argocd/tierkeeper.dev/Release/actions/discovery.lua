-- Argo CD actions of a tierkeeper.dev Release, offered only when the operator can act on
-- them. promote: a Manual release whose new colour passed its gate waits for
-- spec.promote. rollback: a Promoted release with something to go back to (blue-green:
-- the standby colour still has its pods, inside the rollback window; rolling: a previous
-- image), and no rollback already asked for. abort: a rollout in progress that has not
-- switched traffic yet (blue-green: Deploying, Verifying before the switch,
-- AwaitingPromotion; rolling: Deploying), and no abort already asked for.
local actions = {}
local status = obj.status or {}
local rollout = status.rollout or {}
local annotations = obj.metadata.annotations or {}

local function other(color)
  if color == "blue" then
    return "green"
  end
  return "blue"
end

local function standby_kept()
  if rollout.colors == nil then
    return false
  end
  local standby = rollout.colors[other(rollout.active)]
  return standby ~= nil and standby.replicas ~= nil and standby.replicas > 0
end

local awaiting = status.phase == "AwaitingPromotion" and obj.spec.promote ~= true
actions["promote"] = {
  ["disabled"] = not awaiting,
  ["iconClass"] = "fa fa-fw fa-forward",
  ["displayName"] = "Promote: switch traffic to the new colour",
}

-- A rolling rollout has the image of its one Deployment; a blue-green one has colours.
local rolling = rollout.image ~= nil
local somewhere_to_go = (rolling and status.previousImage ~= nil)
  or (not rolling and standby_kept())
local requested = annotations["tierkeeper.dev/rollback"] == "true"
actions["rollback"] = {
  ["disabled"] = not (status.phase == "Promoted" and somewhere_to_go and not requested),
  ["iconClass"] = "fa fa-fw fa-undo",
  ["displayName"] = "Rollback: back to the previous image",
}

local before_switch = status.phase == "Deploying"
  or status.phase == "AwaitingPromotion"
  or (status.phase == "Verifying" and status.switchedAt == nil)
local in_progress = (rolling and status.phase == "Deploying") or (not rolling and before_switch)
local aborting = annotations["tierkeeper.dev/abort"] == "true"
actions["abort"] = {
  ["disabled"] = not (in_progress and not aborting),
  ["iconClass"] = "fa fa-fw fa-stop-circle",
  ["displayName"] = "Abort: stop the rollout, traffic stays where it is",
}

return actions
