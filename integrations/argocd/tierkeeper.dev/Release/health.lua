-- Argo CD health of a tierkeeper.dev Release, read from the status the operator writes.
-- Healthy: Promoted and Ready. Suspended: AwaitingPromotion (a Manual release whose new
-- colour passed its gate waits for spec.promote). Degraded: Failed or RolledBack, or a
-- Release the operator refuses to act on (unknown Environment, Environment bound to
-- another Release, branch mismatch). Progressing: Pending, BackingUp, Deploying,
-- Verifying, and a status older than the spec.
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c)
  local reason = c.reason or c.type
  if c.message ~= nil and c.message ~= "" then
    return reason .. ": " .. c.message
  end
  return reason
end

local ROLLING = {
  Pending = true,
  BackingUp = true,
  Deploying = true,
  Verifying = true,
  AwaitingPromotion = true,
}

local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the tierkeeper operator to pick up the Release"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  -- Concatenation, not string.format: Argo CD runs ConfigMap health checks without
  -- the string library (only base, table, package and part of os).
  hs.message = "Waiting for the tierkeeper operator to observe generation "
    .. generation .. " (status is of " .. status.observedGeneration .. ")"
  return hs
end

local phase = status.phase
local ready = condition(status, "Ready")
local progressing = condition(status, "Progressing")

-- A refusal: Progressing=False with the refusal's reason instead of the phase's name.
-- The operator touches nothing until someone fixes the Release or its Environment.
if progressing ~= nil and progressing.status == "False" and progressing.reason ~= phase then
  hs.status = "Degraded"
  hs.message = describe(ready or progressing)
  return hs
end

if phase == "Failed" or phase == "RolledBack" then
  hs.status = "Degraded"
  hs.message = phase
  if ready ~= nil then
    hs.message = describe(ready)
  end
  local healthy = condition(status, "Healthy")
  if healthy ~= nil and healthy.status == "False" then
    hs.message = hs.message .. "; " .. describe(healthy)
  end
  return hs
end

if phase == "AwaitingPromotion" then
  local image = status.targetImage or (obj.spec ~= nil and obj.spec.image) or "the new image"
  local color = status.previewColor or "the preview colour"
  hs.status = "Suspended"
  hs.message = image .. " passed its health gate on " .. color
    .. "; set spec.promote: true to switch traffic to it"
  return hs
end

if phase == "Promoted" then
  if ready ~= nil and ready.status == "True" then
    hs.status = "Healthy"
    hs.message = describe(ready)
    return hs
  end
  hs.status = "Progressing"
  hs.message = "Waiting for the rollout of the new image"
  if ready ~= nil then
    hs.message = describe(ready)
  end
  return hs
end

if phase == nil or ROLLING[phase] then
  hs.status = "Progressing"
  hs.message = phase or "Pending"
  if ready ~= nil then
    hs.message = describe(ready)
  end
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown phase " .. tostring(phase)
return hs
