"""`kubectl tierkeeper`: the kubectl plugin (`kubectl-tierkeeper` on PATH).

`cluster` reads and writes with the user's kubeconfig, `view` turns what it read into
plain data, `render` draws that with rich, `commands` are the small writes, `cli` wires
them to the command line.
"""
