-- Argo CD health of a tierkeeper.dev Environment, read from the status the operator writes.
-- Healthy: Ready. Degraded: Degraded (it was Ready and lost it), or Ready=False for a
-- reason only a person can fix (an invalid spec, a missing Secret, a missing provider).
-- Suspended: Ready with spec.suspend (the app scaled to zero). Progressing: anything
-- on its way, including a status older than the spec.
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

-- Ready=False reasons of an Environment that is still coming up or rolling pods.
local TRANSIENT = { Creating = true, Progressing = true }

local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the tierkeeper operator to report status"
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

local degraded = condition(status, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(degraded)
  return hs
end

local ready = condition(status, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

if ready.status == "True" then
  if obj.spec ~= nil and obj.spec.suspend == true then
    hs.status = "Suspended"
    hs.message = "spec.suspend is true: the app is scaled to zero, data services keep running"
    return hs
  end
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

if ready.status == "False" and not TRANSIENT[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready)
return hs
