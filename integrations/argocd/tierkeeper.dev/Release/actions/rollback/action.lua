-- The emergency rollback: the operator switches traffic back to the standby colour (or
-- rolls the previous image out again) and removes the annotation once it has acted.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["tierkeeper.dev/rollback"] = "true"
return obj
