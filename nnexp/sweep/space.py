"""A search space typed in Hydra's override grammar, as Optuna distributions.

What users of Hydra's Optuna sweeper already type, parsed by Hydra's own parser:

    lr=tag(log, interval(0.001, 1))       FloatDistribution(0.001, 1, log=True)
    lr=interval(0.01, 0.5)                FloatDistribution(0.01, 0.5)
    batch_size=int(interval(1, 64))       IntDistribution(1, 64)
    model.hidden=range(50, 250, 50)       IntDistribution(50, 200, step=50)   (a float range: its values)
    optimizer=choice(sgd, adam)           CategoricalDistribution(["sgd", "adam"])
    model.hidden=[50],[100],[200]         CategoricalDistribution(["[50]", "[100]", "[200]"])
    epochs=27                             the full budget, one value
    data=mnist                            fixed: passed on to every job unchanged

A categorical choice is kept as the value Optuna stores when it is a number, a string or a bool,
and as its override text otherwise (a list), so that the study can be stored and reloaded; a job's
override is always ``key=text`` with the text of its value as Hydra reads it back.
"""

from dataclasses import dataclass, field

from ..errors import ConfigError

BUDGET_KEY = "epochs"
"""The key that is the full budget of a search, one value; the rungs are its steps."""


@dataclass
class Dimension:
    """One searched key: its override key element (``lr``, ``+x``), its Optuna distribution, and for a
    categorical the override text of each choice (``texts[i]`` is the text of ``choices[i]``)."""

    key: str
    element: str
    distribution: object
    texts: list = field(default_factory=list)

    def override(self, value):
        """The override string that gives this key the sampled ``value``."""
        if self.texts:
            choices = list(self.distribution.choices)
            return f"{self.element}={self.texts[choices.index(value)]}"
        return f"{self.element}={value_text(value)}"

    def describe(self):
        """The values searched, in words: 'log-uniform in [0.001, 1]', 'one of [50], [100]'."""
        d = self.distribution
        if self.texts or not hasattr(d, "low"):
            return "one of " + ", ".join(self.texts or map(str, d.choices))
        kind = "whole numbers" if type(d).__name__ == "IntDistribution" else "uniform"
        step = f", step {d.step}" if getattr(d, "step", None) not in (None, 1) else ""
        return f"{'log-' if d.log else ''}{kind} in [{d.low:g}, {d.high:g}]{step}"

    @property
    def grid(self):
        """Every value of a discrete dimension, for the grid sampler; None for an interval."""
        from optuna.distributions import CategoricalDistribution, IntDistribution

        if isinstance(self.distribution, CategoricalDistribution):
            return list(self.distribution.choices)
        if isinstance(self.distribution, IntDistribution) and not self.distribution.log:
            d = self.distribution
            return list(range(d.low, d.high + 1, d.step))
        return None


@dataclass
class Space:
    """The searched dimensions (in the order typed), the fixed overrides, and the budget override."""

    dimensions: dict
    fixed: dict                 # {key: override as typed}
    budget: int = None          # epochs=N as typed; None: the configuration's epochs

    def overrides(self, params, epochs, seed=None):
        """A job's overrides: the fixed ones, each searched key at its value in ``params``, ``epochs``,
        and ``seed`` when given (replacing a fixed seed)."""
        fixed = [line for key, line in self.fixed.items() if seed is None or key != "seed"]
        searched = [dim.override(params[key]) for key, dim in self.dimensions.items()]
        return [*fixed, *searched, f"{BUDGET_KEY}={epochs}", *([] if seed is None else [f"seed={seed}"])]

    def describe(self):
        """{key: its values in words}, for the report."""
        return {key: dim.describe() for key, dim in self.dimensions.items()}

    @property
    def distributions(self):
        return {key: dim.distribution for key, dim in self.dimensions.items()}

    def grid(self):
        """{key: values} for Optuna's GridSampler; ConfigError when a dimension is an interval."""
        values = {key: dim.grid for key, dim in self.dimensions.items()}
        continuous = [key for key, grid in values.items() if grid is None]
        if continuous:
            raise ConfigError(f"hydra.sweeper.sampler=grid needs discrete values, and {', '.join(continuous)} "
                              "is an interval; give a list or choice(...), or use sampler=tpe or random")
        return values

    def size(self):
        """Number of points of a discrete space (None when a dimension is an interval)."""
        count = 1
        for dim in self.dimensions.values():
            if dim.grid is None:
                return None
            count *= len(dim.grid)
        return count


def value_text(value):
    """A sampled number as an override value Hydra reads back to the same number (repr of a float)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def storable(value):
    """True for a value Optuna's storages keep as it is (its CategoricalDistribution's choices)."""
    return value is None or isinstance(value, (bool, int, float, str))


def interval_distribution(key, sweep):
    from optuna.distributions import FloatDistribution, IntDistribution

    log = "log" in sweep.tags
    low, high = sweep.start, sweep.end
    if low >= high:
        raise ConfigError(f"{key}=interval({low}, {high}) is empty; give interval(low, high) with low < high")
    if log and low <= 0:
        raise ConfigError(f"{key}=tag(log, interval({low}, {high})) needs a low end above 0")
    if isinstance(low, int) and isinstance(high, int):
        return IntDistribution(low, high, log=log)
    return FloatDistribution(float(low), float(high), log=log)


def range_dimension(key, element, sweep, values, texts):
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if not values:
        raise ConfigError(f"{key}=range({sweep.start}, {sweep.stop}, {sweep.step}) holds no value")
    if all(isinstance(v, int) for v in values) and sweep.step > 0 and "log" not in sweep.tags:
        return Dimension(key, element, IntDistribution(values[0], values[-1], step=sweep.step))
    return Dimension(key, element, CategoricalDistribution(values), texts)


def choice_dimension(key, element, values, texts):
    from optuna.distributions import CategoricalDistribution

    if len(set(texts)) != len(texts):
        raise ConfigError(f"{key} lists a value twice ({', '.join(texts)}); give each value once")
    if all(storable(v) for v in values):
        return Dimension(key, element, CategoricalDistribution(values), texts)
    return Dimension(key, element, CategoricalDistribution(texts), texts)


def dimension(override):
    """The Dimension of one sweep override (interval, range, choice or a comma list)."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    key, element, sweep = override.key_or_group, override.get_key_element(), override.value()
    if isinstance(sweep, IntervalSweep):
        return Dimension(key, element, interval_distribution(key, sweep))
    texts = list(override.sweep_string_iterator())
    if isinstance(sweep, RangeSweep):
        return range_dimension(key, element, sweep, list(override.sweep_iterator()), texts)
    if isinstance(sweep, ChoiceSweep):
        return choice_dimension(key, element, list(sweep.list), texts)
    raise ConfigError(f"{override.input_line}: a search takes interval(...), range(...), choice(...) or a comma list")


def parse_space(args, params=None):
    """The Space of a search: ``params`` (hydra.sweeper.params, {key: value text}) then the command
    line's ``args``, a key given in both taken from the command line. ConfigError (or Hydra's
    OverrideParseException) for what cannot be searched."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    typed = [f"{key}={value}" for key, value in (params or {}).items()] + list(args)
    overrides = {}
    for override in OverridesParser.create().parse_overrides(typed):
        overrides[override.key_or_group] = override     # the command line replaces a params entry
    dimensions, fixed, budget = {}, {}, None
    for key, override in overrides.items():
        if key == BUDGET_KEY:
            if override.is_sweep_override():
                raise ConfigError(f"{override.input_line}: epochs is the full budget of a search; give one value "
                                  "(epochs=27), the rungs are its steps")
            budget = override.value()
            if isinstance(budget, bool) or not isinstance(budget, int):
                raise ConfigError(f"epochs={budget} must be a whole number of epochs")
        elif override.is_sweep_override():
            dimensions[key] = dimension(override)
        else:
            fixed[key] = override.input_line
    if not dimensions:
        raise ConfigError("a search needs at least one searched key, e.g. lr=tag(log, interval(0.001, 1)) or "
                          "model.hidden=[50],[100],[200]")
    return Space(dimensions, fixed, budget)
