"""The CPU benchmark's report: pass or fail for its targets, and the markdown table of its medians."""

from __future__ import annotations

from typing import Any

# The CPU targets the app was built against (docs/benchmarks.md).
OVERHEAD_LIMIT_PCT = 15.0
UI_READY_LIMIT_S = 10.0


def evaluate_targets(sections: dict[str, Any]) -> list[dict[str, Any]]:
    """Pass or fail for the CPU targets; "not measured" when the section did not run or failed."""
    specs = (("app_overhead", "app overhead over a direct call at 256²", "overhead", "overhead_pct",
              OVERHEAD_LIMIT_PCT, "%"),
             ("ui_ready", "UI ready after launch", "ui", "ui_ready_s", UI_READY_LIMIT_S, "s"))
    targets = []
    for target_id, what, section, key, limit, unit in specs:
        value = sections.get(section, {}).get(key)
        status = "not measured" if value is None else ("pass" if value <= limit else "fail")
        targets.append({"id": target_id, "what": what, "limit": limit, "unit": unit, "value": value,
                        "status": status})
    return targets


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f} s" if abs(value) < 10 else f"{value:.1f} s"


def cold_start_rows(s: dict[str, Any], runs: int) -> list[tuple[str, str, str]]:
    rows = []
    if "first_png_s" in s.get("cli", {}):
        c = s["cli"]
        rows += [("Cold start, CLI: launch → first PNG written", seconds(c["first_png_s"]),
                  f"fresh process each run, tiny model folder already built; process exit {seconds(c['exit_s'])}"),
                 ("Peak RSS, CLI process", f"{c['peak_rss_mib']:.0f} MiB", "kernel's maximum (wait4)")]
    if "ui_ready_s" in s.get("ui", {}):
        u = s["ui"]
        rows += [("Cold start, UI: launch → page answers HTTP 200", seconds(u["ui_ready_s"]), "UI ready"),
                 ("Cold start, UI: launch → \"Model ready\" logged", seconds(u["model_ready_s"]),
                  f"weights load in a background thread; UI answered first in {u['ui_first_runs']}/{runs} runs")]
    return rows


def overhead_rows(o: dict[str, Any]) -> list[tuple[str, str, str]]:
    threads = f"{o['torch_threads']} thread{'s' if o['torch_threads'] > 1 else ''}"
    return [(f"Direct Engine.generate, 256², count 1, 9 steps ({threads})", seconds(o["direct_s"]),
             f"in-process; saving the PNG as the app does takes {seconds(o['png_save_s'])} more"),
            ("gradio_client /generate round trip, same request", seconds(o["client_s"]),
             f"a call rejected at once (steps=0) through gradio_client: {seconds(o['client_rejected_s'])}"),
            ("Plain REST call + PNG download, same request", seconds(o["http_s"] + o["client_download_s"]),
             f"POST + event stream {seconds(o['http_s'])}, then one GET {seconds(o['client_download_s'])}"),
            ("App overhead through gradio_client, round trip − direct",
             f"{o['overhead_pct']:+.0f} % ({seconds(o['overhead_s'])})",
             f"gradio_client itself, beyond REST + download: {seconds(o['client_library_s'])}"),
            ("App overhead over plain REST, REST + download − direct",
             f"{o['rest_overhead_pct']:+.0f} % ({seconds(o['rest_overhead_s'])})",
             "what curl or a browser-like client pays"),
            ("Peak RSS, app process during generation", f"{o['app_peak_rss_mib']:.0f} MiB",
             f"idle after load {o['app_idle_rss_mib']:.0f} MiB; idle app uses {o['app_idle_cpu_pct']:.0f} % of a core")]


def batch_rows(b: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [("Batch: one call, count=4 (direct)", seconds(b["batch4_s"]), ""),
            ("Batch: 4 single calls (direct)", seconds(b["singles4_s"]), ""),
            ("Batch ratio (count=4 / 4 singles)", f"{b['ratio']:.2f}×",
             f"{1 / b['ratio']:.2f}× the throughput of single calls")]


def to_markdown(report: dict[str, Any]) -> str:
    m, s, runs = report["machine"], report["sections"], report["machine"]["runs_per_median"]
    rows = cold_start_rows(s, runs)
    rows += overhead_rows(s["overhead"]) if "direct_s" in s.get("overhead", {}) else []
    rows += batch_rows(s["batch"]) if "ratio" in s.get("batch", {}) else []
    lines = [f"# zimage CPU benchmark (tiny model): {m['cpu']}, {m['logical_cores']} cores", "",
             f"Median of {runs} runs; ratios from interleaved runs. {m['size']}, {m['steps']} steps, count 1 unless "
             f"stated. torch {m['torch']}, gradio {m['gradio']}. Load average {m['load_average_start']} at the "
             f"start, {m.get('load_average_end')} at the end." + (f" {m['note']}" if m.get("note") else ""), "",
             "| measurement | median | note |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {note or '–'} |" for name, value, note in rows]
    lines += ["", "| target | limit | measured | status |", "|---|---|---|---|"]
    for t in report["targets"]:
        measured = seconds(t["value"]) if t["unit"] == "s" else "–" if t["value"] is None else f"{t['value']:+.0f} %"
        lines.append(f"| {t['what']} | ≤ {t['limit']:g} {t['unit']} | {measured} | {t['status']} |")
    for name, error in report["failed"].items():
        lines.append(f"\n**{name} failed:** {error}")
    return "\n".join(lines) + "\n"
