"""The results as a Markdown table (stdout) and as JSON (--json FILE).

AbsRel and the delta accuracies are printed in percent, as the papers' tables print them; metric
errors in millimetres; the JSON keeps plain fractions and metres.
"""
PERCENT = ('abs_rel', 'delta1', 'delta2', 'delta3', 'coverage')
MILLIMETRES = ('mae', 'rmse')
TITLES = {'abs_rel': 'AbsRel %', 'sq_rel': 'SqRel', 'rmse': 'RMSE', 'rmse_log': 'RMSE log', 'log10': 'log10',
          'delta1': 'δ1 %', 'delta2': 'δ2 %', 'delta3': 'δ3 %', 'mae': 'MAE', 'coverage': 'coverage %'}


def format_value(key: str, value: float, metric: bool) -> str:
    if value != value:          # NaN
        return '-'
    if key in PERCENT:
        return f'{100 * value:.2f}'
    if metric and key in MILLIMETRES:
        return f'{1000 * value:.1f}'
    return f'{value:.4f}'


def markdown_table(first_column: str, rows: list[tuple[str, dict[str, float]]], keys: tuple[str, ...],
                   metric: bool, extra: tuple[str, ...] = ()) -> str:
    """One row per (label, metrics); metric tables give MAE and RMSE in millimetres."""
    titles = [TITLES.get(key, key) + (' mm' if metric and key in MILLIMETRES else '') for key in keys]
    header = [first_column, *extra, *titles]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for label, values in rows:
        cells = [label, *(str(values.get(name, '')) for name in extra)]
        cells += [format_value(key, float(values.get(key, float('nan'))), metric) for key in keys]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)

