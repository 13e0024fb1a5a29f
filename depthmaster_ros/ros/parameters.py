"""The node's ROS parameters: declared from the one table, checked on set, turned into a `Config`.

rclpy is the edge where parameters are values in a dict; past `NodeParameters.config` the node and
the pipeline see only the typed configuration.
"""
from collections.abc import Callable
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from depthmaster_ros.config import Config, table

_ROS_TYPES = {
    table.STRING: ParameterType.PARAMETER_STRING,
    table.INTEGER: ParameterType.PARAMETER_INTEGER,
    table.DOUBLE: ParameterType.PARAMETER_DOUBLE,
    table.BOOL: ParameterType.PARAMETER_BOOL,
    table.DOUBLE_ARRAY: ParameterType.PARAMETER_DOUBLE_ARRAY,
    table.STRING_ARRAY: ParameterType.PARAMETER_STRING_ARRAY,
}
_ARRAY_TYPES = {table.DOUBLE_ARRAY: Parameter.Type.DOUBLE_ARRAY, table.STRING_ARRAY: Parameter.Type.STRING_ARRAY}


def parameter_descriptor(spec: table.ParameterSpec) -> ParameterDescriptor:
    """The ROS ParameterDescriptor of one table entry (ranges, choices in the text, read-only)."""
    text = spec.description
    if spec.choices:
        text += ' One of: ' + ', '.join(spec.choices) + '.'
    if not spec.runtime:
        text += ' Read-only: restart the node to change it.'
    # dynamic typing: rclpy's own type check would refuse a wrong type as "expected '2' got '4'";
    # NodeParameters checks it instead, naming the parameter and both types
    descriptor = ParameterDescriptor(name=spec.name, type=_ROS_TYPES[spec.type], description=text,
                                     read_only=not spec.runtime, dynamic_typing=True)
    if spec.range is not None and spec.type == table.INTEGER:
        descriptor.integer_range = [IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=0)]
    elif spec.range is not None and spec.type == table.DOUBLE:
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(spec.range[0]),
                                                              to_value=float(spec.range[1]), step=0.0)]
    if spec.choices:
        descriptor.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    return descriptor


def type_error(spec: table.ParameterSpec, change: Parameter) -> str | None:
    """Why change has the wrong type for spec (an integer for a double is fine), or None."""
    expected = Parameter.Type(_ROS_TYPES[spec.type])
    if change.type_ == expected or \
            (expected == Parameter.Type.DOUBLE and change.type_ == Parameter.Type.INTEGER):
        return None
    return (f'{spec.name}: expected type {expected.name.lower()}, got {change.type_.name.lower()} '
            f'{change.value!r}')


class NodeParameters:
    """Declares every parameter on `node`, validates changes, and reports accepted ones as a new Config."""

    def __init__(self, node: Node, on_change: Callable[[Config], None]):
        self._node = node
        self._on_change = on_change
        self._declare()
        self._values = {spec.name: table.validate(spec.name, self._declared_value(spec.name))
                        for spec in table.PARAMETERS}
        self.config = Config.from_params(self._values)
        node.add_on_set_parameters_callback(self._check)
        node.add_post_set_parameters_callback(self._apply)

    def _declare(self) -> None:
        node = self._node
        for spec in table.PARAMETERS:
            override = self._override(spec.name)
            if spec.type == table.DOUBLE and override is not None and override.type_ == Parameter.Type.INTEGER:
                # YAML `max_depth: 80` is an integer to rclpy; accept it as the double it means.
                override = Parameter(spec.name, Parameter.Type.DOUBLE, float(override.value))
            array_type = _ARRAY_TYPES.get(spec.type)
            if array_type is not None and override is None:
                # rclpy infers no type from an empty list: declare it without a value (dynamically typed),
                # then set the typed empty default (a read-only one cannot be set after its declaration: it
                # stays "not set", read as empty)
                parameter: Parameter = node.declare_parameter(spec.name, None, parameter_descriptor(spec),
                                                              ignore_override=True)
                if parameter.type_ == Parameter.Type.NOT_SET and spec.runtime:
                    node.set_parameters([Parameter(spec.name, array_type, [])])
            else:
                value = spec.default if override is None else override.value
                node.declare_parameter(spec.name, value, parameter_descriptor(spec), ignore_override=True)

    def _override(self, name: str) -> Parameter | None:
        """The --params-file / -p / parameter_overrides value of `name`; None when none (or an empty YAML list).

        rclpy has no public reader of its overrides, so a dynamically typed declaration (which takes the
        override whatever its type) reads it and is withdrawn before the typed declaration.
        """
        probe: Parameter = self._node.declare_parameter(name, None, ParameterDescriptor(dynamic_typing=True))
        self._node.undeclare_parameter(name)
        return None if probe.type_ == Parameter.Type.NOT_SET else probe

    def _declared_value(self, name: str) -> Any:
        try:
            return self._node.get_parameter(name).value
        except ParameterUninitializedException:
            return None                           # an empty read-only array (see _declare)

    def _check(self, changes: list[Parameter]) -> SetParametersResult:
        """Reject unknown choices, out-of-range values and read-only changes, with the reason."""
        proposed: dict[str, Any] = dict(self._values)
        for change in changes:
            spec = table.BY_NAME.get(change.name)
            if spec is None:
                continue                                   # use_sim_time and other rclpy-owned names
            if not spec.runtime and change.value != self._values[spec.name]:
                return SetParametersResult(successful=False,
                                           reason=f'{change.name} is read-only: restart the node to change it')
            wrong_type = type_error(spec, change)
            if wrong_type:
                return SetParametersResult(successful=False, reason=wrong_type)
            try:
                proposed[spec.name] = table.validate(spec.name, change.value)
            except ValueError as error:
                return SetParametersResult(successful=False, reason=str(error))
        try:
            table.validate_all(proposed)
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def _apply(self, changes: list[Parameter]) -> None:
        """Accepted changes become the new Config, handed to the node (it applies them from the next frame);
        each change is logged, so a behaviour change in the log has its cause next to it."""
        changed = []
        for change in changes:
            if change.name in table.BY_NAME:
                value = table.validate(change.name, change.value)
                if value != self._values[change.name]:
                    changed.append(f'{change.name} {self._values[change.name]!r} -> {value!r}')
                self._values[change.name] = value
        if changed:
            self._node.get_logger().info(f'parameters changed at runtime: {", ".join(changed)} '
                                         '(applied from the next frame)')
        self.config = Config.from_params(self._values)
        self._on_change(self.config)
