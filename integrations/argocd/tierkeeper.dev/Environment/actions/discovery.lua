-- Argo CD actions of a tierkeeper.dev Environment: suspend scales the app to zero (data
-- services keep running), resume brings it back; each offered only when it changes something.
local actions = {}
local suspended = obj.spec.suspend == true
actions["suspend"] = {
  ["disabled"] = suspended,
  ["iconClass"] = "fa fa-fw fa-pause",
  ["displayName"] = "Suspend: scale the app to zero",
}
actions["resume"] = {
  ["disabled"] = not suspended,
  ["iconClass"] = "fa fa-fw fa-play",
  ["displayName"] = "Resume: scale the app back up",
}
return actions
