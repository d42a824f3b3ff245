"""Pure status computation: observations of the children in, status out."""
