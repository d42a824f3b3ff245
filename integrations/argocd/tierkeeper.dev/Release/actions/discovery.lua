-- Argo CD actions of a tierkeeper.dev Release, offered only when the operator can act on
-- them. promote: a Manual release whose new colour passed its gate waits for
-- spec.promote. rollback: a Promoted release with something to go back to (blue-green:
-- the standby colour still has its pods, inside the rollback window; rolling: a previous
-- image), and no rollback already asked for.
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
  if rollout.active == nil or rollout.colors == nil then
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

local blue_green = rollout.active ~= nil
local somewhere_to_go = (blue_green and standby_kept())
  or (not blue_green and status.previousImage ~= nil)
local requested = annotations["tierkeeper.dev/rollback"] == "true"
actions["rollback"] = {
  ["disabled"] = not (status.phase == "Promoted" and somewhere_to_go and not requested),
  ["iconClass"] = "fa fa-fw fa-undo",
  ["displayName"] = "Rollback: back to the previous image",
}

return actions
