-- Stop a rollout in progress: the operator scales the preview colour to zero pods (or, for
-- a rolling release, applies the previous image again), leaves traffic where it is, marks
-- the Release Failed (history outcome Aborted) and removes the annotation once it has acted.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["tierkeeper.dev/abort"] = "true"
return obj
