"""How well the proof-reading check works, on synthetic posters nobody tuned it to.

    python -m bench.ocr_corpus --out bench/results [--count 200] [--typos 100] [--seed 0] [--save-images DIR]
                               [--recogniser default|bundled]

`--recogniser bundled` measures rapidocr-onnxruntime's own PP-OCRv4 recogniser instead of the app's PP-OCRv6 small,
for comparison.

A seeded generator draws posters of 1024x1024: one title and, on about half of them, a subtitle, each a random
Chinese, English or mixed phrase of 2 to 16 characters, in a Noto CJK (Debian `fonts-noto-cjk`) or DejaVu
(`fonts-dejavu-core`) face, at a random size, colour (contrast at least 3:1, the WCAG floor for large text),
background (flat, gradient, or soft shapes) and rotation (up to 5 degrees either way). Every poster is
proof-read with `zimage.ocr` against the phrases it carries, exactly as the app checks an image against its
prompt's quoted spans.

Figures:
- **exact-match recall:** phrases judged found / phrases drawn (each drawn exactly as expected);
- **false-alarm rate:** posters with correct text judged wrong (some phrase missing) / posters;
- **typo detection:** on `--typos` more posters whose title has one character substituted, deleted or inserted
  inside it (the model's usual slips), the share judged wrong; an image can only be right or wrong, so this
  is the other half of the check's job;
- **OCR seconds per 1024x1024 poster:** the median of `OcrReader.read` over the corpus, after one untimed read
  that loads the models, plus the cost of a huge image, an image without text and a 40-span check.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parent.parent
from bench.report import cpu_model, versions, write_report
from zimage import textcheck
from zimage.ocr import BUNDLED, OcrReader

SIZE = 1024
TARGET_RECALL, TARGET_FALSE_ALARM, TARGET_SECONDS = 0.95, 0.02, 1.0
CJK_FONTS = [f"/usr/share/fonts/opentype/noto/Noto{face}CJK-{weight}.ttc"
             for face in ("Sans", "Serif") for weight in ("Regular", "Bold")]
LATIN_FONTS = [f"/usr/share/fonts/truetype/dejavu/DejaVu{name}.ttf"
               for name in ("Sans", "Sans-Bold", "Serif", "Serif-Bold", "SansMono-Bold")]
# About 500 frequent characters of modern written Chinese, in rough frequency order: posters use these, and a
# uniform draw from the CJK block would mostly give characters no poster (and no OCR alphabet) has.
HANZI = (
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里用道行所"
    "然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想实日军者意无力它与长"
    "把机十民第公此已工使情明性知全三又关点正业外将两高间由问很最重并物手应战向头文体政美相见被利什二等产或新己制身"
    "果加西斯月话合回特代内信表化老给世位次度门任常先海通教儿原东声提立及比员解水名真论处走义各入几口认条平系气题活"
    "尔更别打女变四神总何电数安少报才结反受目太量再感建务做接必场件计管期市直德资命山金指克许统区保至队形社便空决治"
    "展马科司五基眼书非则听白却界达光放强即像难且权思王象完设式色路记南品住告类求据程北边死张该交规万取拉格望觉术领"
    "共确传师观清今切院让识候带导争运笑飞风步改收根干造言联持组每济车亲极林服快办议往元英士证近失转夫令准布始怎呢存"
    "未远叫台单影具罗字爱击流备兵连调深商算质团集百需价花党华城石级整府离况亚请技际约示复病息究线似官火断精满支视消"
    "越器容照须九增研写称企八功吗包片史委乎查轻易早曾除农找装广显吧阿李标谈吃图念六引历首医局突专费号尽另周较注语仅"
    "春节乐福茶咖啡店铺酒馆书面包糖果蛋糕饭菜汤香甜鲜美味"
)
WORDS = (
    "OPEN SALE COFFEE TEA BOOK SHOP NEW YEAR HAPPY SPRING SUMMER NIGHT CITY LIGHT DREAM LOVE HOME GARDEN MARKET "
    "FRESH BREAD CAKE MUSIC LIVE SHOW FILM STAR MOON SUN RIVER OCEAN MOUNTAIN FOREST WINTER SNOW FIRE GOLD SILVER "
    "GRAND HOTEL CAFE BAR CLUB STUDIO DESIGN ART GALLERY MUSEUM FESTIVAL WELCOME THANK YOU BEST DEAL FREE TODAY "
    "ONLY MENU PIZZA NOODLE RICE SOUP JUICE MILK HONEY LEMON ORANGE APPLE GREEN BLUE RED BLACK WHITE PINK PURPLE "
    "SMART FAST SLOW QUIET WILD CALM BRAVE TRUE BOLD SIMPLE CLEAN PURE ROYAL URBAN OLD MODERN CLASSIC RETRO "
    "FUTURE ROAD TRIP TRAVEL WORLD PARK BEACH ISLAND SKY CLOUD RAIN STORM WIND TIGER DRAGON LION PANDA"
).split()


@dataclass(frozen=True)
class Poster:
    image: Image.Image
    phrases: tuple[str, ...]  # what is drawn
    expected: tuple[str, ...]  # what the check is told to expect (differs from phrases on typo posters)
    kinds: tuple[str, ...]


def phrase(rng: random.Random) -> tuple[str, str]:
    """A random phrase of 2 to 16 characters and its kind: Chinese, English or mixed."""
    kind = rng.choice(("chinese", "english", "mixed"))
    length = rng.randint(2, 16)
    if kind == "chinese":
        return "".join(rng.choice(HANZI) for _ in range(length)), kind
    if kind == "english":
        return _english(rng, length), kind
    latin = _english(rng, rng.randint(2, max(2, length - 2))) if rng.random() < 0.6 else str(rng.randint(10, 9999))
    hanzi = "".join(rng.choice(HANZI) for _ in range(max(1, length - len(latin))))
    return (f"{latin} {hanzi}" if rng.random() < 0.5 else f"{hanzi}{latin}")[:16].strip(), kind


def _english(rng: random.Random, length: int) -> str:
    words: list[str] = []
    while len(" ".join(words)) < length:
        words.append(rng.choice(WORDS) if rng.random() < 0.85 else str(rng.randint(1, 2030)))
    text = " ".join(words)[:length].strip()
    case = rng.choice((str.upper, str.upper, str.title, str.lower))
    return case(text) if len(text) >= 2 else text + "S"


def typo(rng: random.Random, text: str) -> str:
    """One character substituted, deleted or inserted strictly inside the text, so the check must notice it."""
    key = textcheck.normalise(text)
    for _ in range(50):
        position = rng.randrange(1, len(text)) if len(text) > 1 else 0
        pool = HANZI if "\u4e00" <= text[min(position, len(text) - 1)] <= "\u9fff" else "ABCDEFGHKMNPRSTUWXYZ"
        char = rng.choice(pool)
        if text[position - 1].islower():
            char = char.lower()
        edit = rng.choice(("substitute", "delete", "insert"))
        mutated = {"substitute": text[:position] + char + text[position + 1:],
                   "delete": text[:position] + text[position + 1:],
                   "insert": text[:position] + char + text[position:]}[edit]
        if len(textcheck.normalise(mutated)) >= 1 and key not in textcheck.normalise(mutated):
            return mutated
    raise ValueError(f"no typo found for {text!r}")


def luminance(colour: tuple[int, int, int]) -> float:
    channels = [c / 255 for c in colour]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colours(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A background and a text colour at least 3:1 apart."""
    while True:
        background = tuple(rng.randrange(256) for _ in range(3))
        ink = tuple(rng.randrange(256) for _ in range(3))
        if contrast(background, ink) >= 3.0:
            return background, ink  # type: ignore[return-value]


def background(rng: random.Random, colour: tuple[int, int, int]) -> Image.Image:
    style = rng.choice(("flat", "gradient", "shapes"))
    canvas = Image.new("RGB", (SIZE, SIZE), colour)
    if style == "gradient":
        shade = tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in colour)
        mask = Image.linear_gradient("L").resize((SIZE, SIZE)).rotate(rng.choice((0, 90, 180, 270)))
        canvas = Image.composite(Image.new("RGB", (SIZE, SIZE), shade), canvas, mask)
    elif style == "shapes":
        draw = ImageDraw.Draw(canvas)
        for _ in range(rng.randint(3, 8)):
            shade = tuple(max(0, min(255, c + rng.randint(-35, 35))) for c in colour)
            x, y, r = rng.randrange(SIZE), rng.randrange(SIZE), rng.randint(60, 300)
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=shade)
        canvas = canvas.filter(ImageFilter.GaussianBlur(6))
    return canvas


def draw_text(rng: random.Random, canvas: Image.Image, text: str, ink: tuple[int, int, int],
              band: tuple[int, int], sizes: tuple[int, int]) -> None:
    """Draw text, rotated up to 5 degrees, at a random place inside the vertical band (top, bottom) of the canvas."""
    has_hanzi = any("\u4e00" <= char <= "\u9fff" for char in text)
    path = rng.choice(CJK_FONTS if has_hanzi else CJK_FONTS + LATIN_FONTS)
    size = rng.randint(*sizes)
    while True:  # shrink until the text fits 90% of the width
        font = ImageFont.truetype(path, size)
        left, top, right, bottom = font.getbbox(text)
        if right - left <= 0.9 * SIZE or size <= 12:
            break
        size = int(size * 0.9)
    layer = Image.new("L", (right - left + 20, bottom - top + 20), 0)
    ImageDraw.Draw(layer).text((10 - left, 10 - top), text, font=font, fill=255)
    layer = layer.rotate(rng.uniform(-5, 5), resample=Image.Resampling.BICUBIC, expand=True)
    x = rng.randint(0, max(0, SIZE - layer.width))
    y = rng.randint(band[0], max(band[0], band[1] - layer.height))
    canvas.paste(Image.new("RGB", layer.size, ink), (x, y), layer)


def poster(seed: int, with_typo: bool = False) -> Poster:
    """The poster of this seed; with_typo draws the title with one slip but still expects the right title."""
    rng = random.Random(seed)
    title, title_kind = phrase(rng)
    lines = [(title, title_kind)]
    if rng.random() < 0.5:
        lines.append(phrase(rng))
    bg, ink = colours(rng)
    canvas = background(rng, bg)
    drawn = [typo(rng, title) if with_typo else title] + [text for text, _ in lines[1:]]
    bands = [(40, SIZE // 2 - 20), (SIZE // 2 + 20, SIZE - 40)]
    draw_text(rng, canvas, drawn[0], ink, bands[0], (56, 160))
    for text in drawn[1:]:
        draw_text(rng, canvas, text, ink, bands[1], (28, 80))
    return Poster(canvas, tuple(drawn), tuple(text for text, _ in lines), tuple(kind for _, kind in lines))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    reader = OcrReader(BUNDLED if args.recogniser == "bundled" else None)
    started = time.perf_counter()
    reader.readable  # loads the models, untimed below
    load_s = time.perf_counter() - started
    seconds: list[float] = []
    cpu_seconds: list[float] = []  # all threads' CPU time: less sensitive than wall time to other jobs' load
    rows: list[dict[str, Any]] = []
    for index in range(args.count + args.typos):
        with_typo = index >= args.count
        item = poster(args.seed * 100_000 + index, with_typo=with_typo)
        if args.save_images:
            item.image.save(Path(args.save_images) / f"{index:04d}{'-typo' if with_typo else ''}.png")
        began, cpu_began = time.perf_counter(), time.process_time()
        lines = reader.read(item.image)
        seconds.append(time.perf_counter() - began)
        cpu_seconds.append(time.process_time() - cpu_began)
        verdict = textcheck.judge(item.expected, lines, reader.readable, reader.version)
        rows.append({"index": index, "typo": with_typo, "drawn": item.phrases, "expected": item.expected,
                     "kinds": item.kinds, "read": lines, "found": verdict.found, "missing": verdict.missing,
                     "unsupported": verdict.unsupported})
    return {"ocr": reader.version, "load_s": round(load_s, 3), "seconds": seconds, "cpu_seconds": cpu_seconds,
            "rows": rows, **edge_cases(reader)}


def edge_cases(reader: OcrReader) -> dict[str, Any]:
    """The issue's bad inputs, timed once each: a huge image, an image without text, 40 quoted spans."""
    sample = poster(7).image
    huge = sample.resize((8000, 8000))
    blank = Image.new("RGB", (SIZE, SIZE), (240, 240, 240))
    spans = [f"WORD{n}" for n in range(40)]
    timings: dict[str, float] = {}
    for name, image, expected in (("huge_8000px", huge, ["X"]), ("no_text", blank, ["X"]), ("spans_40", sample, spans)):
        began = time.perf_counter()
        verdict = reader.check(image, expected)
        timings[name] = round(time.perf_counter() - began, 3)
        timings[f"{name}_missing"] = len(verdict.missing)
    return {"edge_cases": timings}


def summarise(measured: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    rows = measured["rows"]
    correct = [row for row in rows if not row["typo"]]
    typos = [row for row in rows if row["typo"]]
    phrases = sum(len(row["expected"]) for row in correct)
    found = sum(len(row["found"]) for row in correct)
    by_kind: dict[str, list[int]] = {}
    for row in correct:
        for text, kind in zip(row["expected"], row["kinds"]):
            by_kind.setdefault(kind, [0, 0])[1] += 1
            by_kind[kind][0] += text in row["found"]
    figures = {
        "posters": len(correct), "phrases": phrases,
        "recall": round(found / phrases, 4),
        "recall_by_kind": {kind: round(hit / total, 4) for kind, (hit, total) in sorted(by_kind.items())},
        "false_alarm_rate": round(sum(bool(row["missing"]) for row in correct) / len(correct), 4),
        "unsupported_phrases": sum(len(row["unsupported"]) for row in correct),
        "typo_posters": len(typos),
        "typo_detection": round(sum(bool(row["missing"]) for row in typos) / len(typos), 4) if typos else None,
        "ocr_median_s": round(statistics.median(measured["seconds"]), 3),
        "ocr_p90_s": round(sorted(measured["seconds"])[int(0.9 * (len(measured["seconds"]) - 1))], 3),
        "ocr_cpu_median_s": round(statistics.median(measured["cpu_seconds"]), 3),
        "ocr_load_s": measured["load_s"],
        **measured["edge_cases"],
    }
    figures["targets"] = {
        "recall >= 95%": figures["recall"] >= TARGET_RECALL,
        "false alarms <= 2%": figures["false_alarm_rate"] <= TARGET_FALSE_ALARM,
        "OCR <= 1 s per 1024x1024": figures["ocr_median_s"] <= TARGET_SECONDS,
    }
    failures = [row for row in rows if bool(row["missing"]) != row["typo"]]
    return {"machine": machine(measured["ocr"]), "settings": vars(args), "figures": figures, "failures": failures[:40]}


def machine(ocr: str) -> dict[str, Any]:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "ocr": ocr, "python": platform.python_version(),
            **versions("onnxruntime", "opencv-python", "pillow", "numpy"),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def to_markdown(report: dict[str, Any]) -> str:
    f = report["figures"]
    percent = lambda value: f"{100 * value:.1f}%"  # noqa: E731
    kinds = ", ".join(f"{kind} {percent(value)}" for kind, value in f["recall_by_kind"].items())
    lines = [
        f"# OCR proof-reading on {f['posters']} synthetic posters ({report['machine']['ocr']})", "",
        "| figure | value | target |", "|---|---|---|",
        f"| exact-match recall ({f['phrases']} phrases) | {percent(f['recall'])} ({kinds}) | ≥ 95% |",
        f"| false alarms (correct poster judged wrong) | {percent(f['false_alarm_rate'])} | ≤ 2% |",
        f"| typo detection ({f['typo_posters']} posters with one slip) | "
        f"{percent(f['typo_detection']) if f['typo_detection'] is not None else '-'} | |",
        f"| OCR per 1024x1024 poster, median (p90) | {f['ocr_median_s']} s ({f['ocr_p90_s']} s) | ≤ 1 s |",
        f"| CPU time per poster, all threads, median | {f['ocr_cpu_median_s']} s | |",
        f"| model load, once per process | {f['ocr_load_s']} s | |",
        f"| 8000x8000 image (downscaled first) | {f['huge_8000px']} s | |",
        f"| image without text | {f['no_text']} s | |",
        f"| 40 quoted spans, 1024x1024 | {f['spans_40']} s | |",
        "", f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, load average at the end "
        f"{report['machine']['load_average_end']}.", "",
    ]
    lines += [f"- {'pass' if ok else 'FAIL'}: {name}" for name, ok in f["targets"].items()]
    if report["failures"]:
        lines += ["", "Misjudged posters (drawn → read):", ""]
        lines += [f"- {row['index']}{' (typo)' if row['typo'] else ''}: {' | '.join(row['drawn'])} → "
                  f"{' | '.join(row['read']) or '(nothing)'}" for row in report["failures"]]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--count", type=int, default=200, help="posters with correct text")
    parser.add_argument("--typos", type=int, default=100, help="posters whose title has one slip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-images", type=Path, default=None, help="also save the posters as PNGs here")
    parser.add_argument("--recogniser", choices=("default", "bundled"), default="default",
                        help="bundled: rapidocr-onnxruntime's PP-OCRv4 recogniser, for comparison")
    args = parser.parse_args(argv)
    if args.save_images:
        args.save_images.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing_fonts = [path for path in CJK_FONTS + LATIN_FONTS if not Path(path).exists()]
    if missing_fonts:
        print(f"Error: fonts missing (apt-get install fonts-noto-cjk fonts-dejavu-core): {missing_fonts}")
        return 1
    report = summarise(measure(args), args)
    report["settings"] = {key: str(value) for key, value in report["settings"].items()}
    write_report(report, to_markdown(report), args.out, "ocr_corpus")
    return 0 if all(report["figures"]["targets"].values()) else 2


if __name__ == "__main__":
    sys.exit(main())
