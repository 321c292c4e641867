"""The arrays of a network's or a layer's ``Parameter`` records, for tests that compare them."""


def records(holder):
    """The parameter records of a Network (by name) or of a Layer (in order), as a list."""
    parameters = holder.parameters
    return list(parameters.values()) if isinstance(parameters, dict) else list(parameters)


def values(holder):
    """Each parameter's array, in order."""
    return [p.value for p in records(holder)]


def grads(holder):
    """Each parameter's gradient, in order."""
    return [p.grad for p in records(holder)]
