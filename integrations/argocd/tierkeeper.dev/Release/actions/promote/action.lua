-- A Manual release in AwaitingPromotion switches traffic once spec.promote is true.
obj.spec.promote = true
return obj
