"""What the shortcut checks recorded on a model card say, in the words a reader sees (Help > About, the warnings
beside an answer, the trainer's console): the same-source check (trainer/same_source_check.py) and the
leave-one-source-out checks (trainer/held_out_source.py), with their restyled and per-view figures.

Read from the cards' JSON without importing torch, as ``covidviewer.model_cards`` is.
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple


#: where each same-source check lives, in an audit and on a card's operating point, by the films it sets against
#: COVID-19 (trainer/same_source_check.py)
SAME_SOURCE_KEYS = {"normal": "same_source", "pneumonia": "same_source_pneumonia"}
#: how each kind of those films is named in the text a reader sees: adult normal films (the stand-in for a normal film
#: from a hospital none of us trains on) or adult non-COVID pneumonia films (COVID-19 or another pneumonia without the
#: hospital: the pooled adult figure sets NIH pneumonias against COVID-19 films from elsewhere, so a model that reads
#: "NIH look = not COVID-19" looks better there than it is)
SAME_SOURCE_WORDS = {"normal": "normal", "pneumonia": "non-COVID pneumonia"}


def same_source_negative(check: Mapping[str, Any]) -> str:
    """Which films a same-source check set against COVID-19: "normal" (the check the app warns on, and every
    check recorded before session 22) or "pneumonia" (adult non-COVID pneumonia films)."""
    return str(check.get("negative", "normal"))


def same_source_negatives(check: Mapping[str, Any]) -> int:
    """How many films of its negative kind a same-source check holds, over every source that has both kinds (here,
    not in covidviewer.models.same_source, which uses it: Help > About reads cards without importing torch)."""
    negative = same_source_negative(check)
    return sum(int(n.get(negative, 0)) for n in (check.get("sources") or {}).values())


def same_source_by_patient(check: Mapping[str, Any]) -> str:
    """A same-source check's normal films called COVID-19, by patient (``by_patient``, trainer/same_source_check.py),
    e.g. "6 of 8 earlier or later films of COVID-19 patients, 1 of 5 films of other patients" ("" for a check
    recorded before the breakdown)."""
    groups = check.get("by_patient") or {}
    mine, others = groups.get("covid_patients"), groups.get("other_patients")
    if not mine or not others or not mine["normal"] or not others["normal"]:
        return ""  # one group alone says nothing the total does not
    return (f"{mine['called_covid']} of {mine['normal']} earlier or later films of COVID-19 patients, "
            f"{others['called_covid']} of {others['normal']} films of other patients")


#: fewer films of a kind than this (normal, pneumonia, or one view's COVID-19 films) and one film moves a share by 10
#: points or more: reported, not flagged
MIN_NEGATIVES_TO_FLAG = 10
#: key, on a card's operating point, of the leave-one-source-out checks (trainer/held_out_source.py): another network
#: of the model, trained here without a source, scored on that source's films; keyed by the held-out sources' names
HELD_OUT_KEY = "held_out_sources"


def held_out_where(check: Mapping[str, Any], joiner: str = ", ") -> str:
    """The held-out sources' short names, e.g. "RSNA" or "Figure1-COVID-chestxray-dataset"."""
    # the sources' own names begin with their short name ("RSNA Pneumonia Detection Challenge normals"), after the
    # owner of a repository ("agchung/Figure1-COVID-chestxray-dataset")
    names = check.get("held_out_names") or check.get("held_out") or ["?"]
    return joiner.join(name.split()[0].split("/")[-1] for name in names)


def held_out_lines(check: Mapping[str, Any], kinds: tuple[str, ...] = ("normal", "pneumonia", "covid", "neither"),
                   who: str = "another network of this model", whose: str = "that network's") -> list[str]:
    """One line per kind of held-out film of a leave-one-source-out check, e.g. "another network of this model,
    trained without RSNA: 45% [39, 50] of its 300 adult normal films called COVID-19 at that network's threshold for 0.80
    sensitivity; AUC against 51 validation COVID-19 films 0.76 [0.69, 0.83]; a higher threshold, calling 20% of them
    COVID-19, keeps 0.59 sensitivity"; for a COVID-19 collection held out, the share of its films found, and held out
    beside normal films ("neither"), the two kinds of held-out film against each other (issue 12's unseen-hospital test).
    who, whose: what was measured (a consensus's record: its members' networks averaged, at their average's
    threshold)."""
    point, ci, n = check.get("point") or {}, check.get("ci95") or {}, check.get("n") or {}
    where = _where_and_seed(check)
    lines = []
    for what, words in (("normal", "adult normal"), ("pneumonia", "adult non-COVID pneumonia")):
        if what not in kinds:
            continue
        share, auc = point.get(f"{what}_called_covid_at_threshold"), point.get(f"auc_{what}_vs_covid")
        if share is None or not n.get(what):
            continue
        low, high = ci.get(f"{what}_called_covid_at_threshold") or [share, share]
        line = (f"{who}, trained without {where}: {share:.0%} [{low:.0%}, {high:.0%}] of its "
                f"{n[what]} {words} films called COVID-19 at {whose} threshold for "
                f"{check.get('target_sensitivity', 0.8):.2f} sensitivity")
        if auc is not None:
            a_low, a_high = ci.get(f"auc_{what}_vs_covid") or [auc, auc]
            line += f"; AUC against {n.get('covid_validation', '?')} validation COVID-19 films {auc:.2f} [{a_low:.2f}, {a_high:.2f}]"
        at_bar = check.get("at_normal_bar") or {}
        if what == "normal" and at_bar and n[what] >= MIN_NEGATIVES_TO_FLAG:  # a trade on 3 films says nothing
            line += (f"; a higher threshold, calling {at_bar['normal_called_covid']:.0%} of them COVID-19, keeps "
                     f"{at_bar['covid_sensitivity']:.2f} sensitivity")
        lines.append(line + _restyled_words(check.get("restyled"), what) + view_words(check.get("by_view"), what))
    covid = check.get("held_out_covid") or {}
    if "covid" in kinds and "covid_sensitivity_at_threshold" in (covid.get("point") or {}):
        lines.append(f"{who}, trained without {where}: found {figure_with_interval(covid, 'covid_sensitivity_at_threshold', '.0%')} "
                     f"of its {n.get('covid', '?')} COVID-19 films at {whose} threshold for "
                     f"{check.get('target_sensitivity', 0.8):.2f} sensitivity on the validation COVID-19 films; AUC against "
                     f"{n.get('normal_validation', '?')} validation adult normal films "
                     f"{figure_with_interval(covid, 'auc_covid_vs_normal', '.2f')}")
    neither = check.get("neither_seen") or {}
    if "neither" in kinds and "auc_covid_vs_normal" in (neither.get("point") or {}):
        lines.append(f"{who}, trained without {where}: its {n.get('covid', '?')} COVID-19 films against its "
                     f"{n.get('normal', '?')} normal films, both from sources it never saw, AUC "
                     f"{figure_with_interval(neither, 'auc_covid_vs_normal', '.2f')}; at {whose} threshold "
                     f"{figure_with_interval(neither, 'covid_sensitivity_at_threshold', '.0%')} of those COVID-19 "
                     f"films found, {figure_with_interval(neither, 'normal_called_covid_at_threshold', '.0%')} of those "
                     f"normal films called COVID-19{_restyled_neither_words(check.get('restyled'))}")
    return lines


def _restyled_neither_words(restyled: Mapping[str, Any] | None) -> str:
    """E.g. "; both restyled as a new hospital's (one change at a time), AUC 0.82-0.85": the both-unseen AUC's range
    over the style changes (trainer.held_out_restyled), "" for a record without it."""
    shifts = (restyled or {}).get("shifts") or {}
    aucs = [f["auc_held_covid_vs_normal"] for f in shifts.values() if isinstance(f, Mapping) and "auc_held_covid_vs_normal" in f]
    if not aucs:
        return ""
    return f"; both restyled as a new hospital's (one change at a time), AUC {min(aucs):.2f}-{max(aucs):.2f}"


def _where_and_seed(check: Mapping[str, Any], joiner: str = ", ") -> str:
    """E.g. "RSNA" or "RSNA (seed 1: another start, the split of seed 0)"."""
    where = held_out_where(check, joiner)
    if check.get("seed") and check.get("split_seed") is not None:
        where += f" (seed {check['seed']}: another start, the split of seed {check['split_seed']})"
    elif check.get("seed"):
        where += f" (seed {check['seed']}: another split and start)"
    return where


def held_out_brief(check: Mapping[str, Any], kind: str) -> str:
    """One short clause of a held-out check for an answer's caveat (held_out_lines has the whole line, for the card):
    kind "normal" / "pneumonia", e.g. "without NIH, 31% of its adult normals (AUC 0.81)"; "neither", e.g. "without
    NIH and Figure1-COVID-chestxray-dataset: its COVID-19 against its normal films, both unseen, AUC 0.77, 77% found,
    35% of the normals called"."""
    point, where = check.get("point") or {}, _where_and_seed(check, " and ")
    if kind == "neither":
        both = (check.get("neither_seen") or {}).get("point") or {}
        figures = [f"{form.format(both[key])}{words}" for key, form, words in (
            ("auc_covid_vs_normal", "AUC {:.2f}", ""), ("covid_sensitivity_at_threshold", "{:.0%}", " found"),
            ("normal_called_covid_at_threshold", "{:.0%}", " of the normals called")) if key in both]
        return f"without {where}: its COVID-19 against its normal films, both unseen, {', '.join(figures)}"
    words = {"normal": "adult normals", "pneumonia": "adult non-COVID pneumonias"}[kind]
    share, auc = point.get(f"{kind}_called_covid_at_threshold"), point.get(f"auc_{kind}_vs_covid")
    said = f"without {where}, {share:.0%} of its {words}" if share is not None else f"without {where}, its {words}"
    restyled = restyled_mean(check.get("restyled"), kind)
    extra = [f"AUC {auc:.2f}"] if auc is not None else []
    extra += [f"{restyled:.0%} restyled as a new hospital's"] if restyled is not None else []
    return f"{said} ({', '.join(extra)})" if extra else said


def figure_with_interval(figures: Mapping[str, Any], key: str, form: str) -> str:
    """E.g. "63% [47%, 79%]" (form ".0%") or "0.89 [0.81, 0.96]" (".2f"): a figure's point and patient-bootstrap
    interval from a {"point", "ci95"} record, "n/a" where not measured."""
    value = (figures.get("point") or {}).get(key)
    if value is None:
        return "n/a"
    low, high = (figures.get("ci95") or {}).get(key) or [value, value]
    return f"{value:{form}} [{low:{form}}, {high:{form}}]"


def held_out_view_share(by_view: Mapping[str, Any] | None, view: str, what: str = "normal") -> tuple[float, int] | None:
    """(share called COVID-19, films) of a held-out check's ``what`` films of one view ("AP", "PA"), or None."""
    entry = (by_view or {}).get(view) or {}
    share = (entry.get("point") or {}).get(f"{what}_called_covid_at_threshold")
    films = (entry.get("n") or {}).get(what) or 0
    return None if share is None or not films else (float(share), int(films))


def view_words(by_view: Mapping[str, Any] | None, what: str) -> str:
    """E.g. "; by view, 48% of its 97 AP films and 11% of its 53 PA films": a held-out check's per-view figures."""
    parts = [f"{found[0]:.0%} of its {found[1]} {view} films" for view in ("AP", "PA")
             if (found := held_out_view_share(by_view, view, what)) is not None]
    return f"; by view, {' and '.join(parts)}" if parts else ""


def restyled_shares(restyled: Mapping[str, Any] | None, what: str) -> dict[str, Mapping[str, Any]]:
    """{change: figures} of a held-out check's restyled record (trainer.held_out_restyled) that count ``what`` films
    ("normal", "pneumonia") called COVID-19; {} for an older record."""
    shifts = (restyled or {}).get("shifts") or {}
    key = f"{what}_called_covid"
    return {shift: figures for shift, figures in shifts.items() if isinstance(figures, Mapping) and key in figures}


def restyled_mean(restyled: Mapping[str, Any] | None, what: str) -> float | None:
    """The share of held-out ``what`` films called COVID-19, averaged over the changes of style; None without them."""
    found = restyled_shares(restyled, what)
    return sum(figures[f"{what}_called_covid"] for figures in found.values()) / len(found) if found else None


def _restyled_words(restyled: Mapping[str, Any] | None, what: str) -> str:
    """E.g. "; with them and the COVID-19 films restyled as a new hospital's (one change at a time), 20% on average and
    up to 42% (noisier ...), at sensitivity 0.92": the held-out check's restyled figures, where kept."""
    found, mean = restyled_shares(restyled, what), restyled_mean(restyled, what)
    if not found or mean is None:
        return ""
    key = f"{what}_called_covid"
    worst = max(found, key=lambda shift: found[shift][key])
    words = ((restyled or {}).get("words") or {}).get(worst, worst)
    return (f"; with them and the COVID-19 films restyled as a new hospital's (one change at a time), {mean:.0%} on "
            f"average and up to {found[worst][key]:.0%} ({words}), at sensitivity {found[worst]['covid_sensitivity']:.2f}")


#: ``lung_region`` of a CT-slice model's lung-attention record: its lungs are the dark regions the body encloses
CT_LUNG_REGION = "ct_enclosed"
#: a model whose Grad-CAM puts less than this many times the lungs' share of the region its maps cover inside them
#: reads the lungs no more than the rest (a map that looks everywhere alike scores 1.0). Session 45: the CT-slice sets
#: 0.6-1.2, small_cnn 1.07, the cascade's stage 1 1.16 and stage 2 1.27, DPN-SENet 1.53, VGG-16-GA 1.57
LUNG_ATTENTION_LIFT_BAR = 1.25


#: where an erased-chest record sits: in a card's lung-attention record, and in the cascade's entry on stage 2's card
LUNGS_ERASED_KEY = "lungs_erased"
#: the name the erased-chest warning starts with (a cascade with its own record drops its stages')
READS = "what it reads"


#: the least mean p(COVID-19) gap between COVID-19 and other images, with the chest erased, that a warning is worth: a
#: model taught to answer nothing there (augment.erased_copies) can keep its ranking with scores a hair apart, which
#: moves no answer (session 46: one start of small_cnn so trained kept AUC 0.70 at a mean p of 0.34 for every image)
MATERIAL_GAP = 0.05


class ErasedChestAuc(NamedTuple):
    """A lung-attention record's AUC of p(COVID-19) with the chest erased (trainer/lungs_erased.py), beside as sent,
    and the mean p(COVID-19) gap between the COVID-19 images and the others (nan in records made without it)."""

    erased: float
    low: float  # the erased AUC's 95% patient-bootstrap interval
    high: float
    as_sent: float
    adult: bool  # adult COVID-19 against adult normal films; else COVID-19 against every other image
    gap: float = float("nan")
    gap_as_sent: float = float("nan")

    @property
    def reads_around_the_lungs(self) -> bool:
        """The score still tells COVID-19 images apart with no lungs to read: the interval lies wholly above 0.5 and
        the scores lie apart by a gap that can move an answer."""
        return self.low > 0.5 and not self.gap < MATERIAL_GAP  # a record without the gap: by the AUC alone


def lungs_erased_auc(record: Mapping[str, Any] | None) -> ErasedChestAuc | None:
    """The erased-chest AUC of a lung-attention record's ``lungs_erased``: the adult pair where the record has it
    (radiographs: the comparison issue 12's bars are on), else COVID-19 against every other image; None without it."""
    erased = (record or {}).get(LUNGS_ERASED_KEY) or {}
    point, ci = erased.get("point") or {}, erased.get("ci95") or {}
    for prefix, adult in (("adult_", True), ("", False)):
        key = f"{prefix}auc_lungs_erased"
        if key in point and f"{prefix}auc_as_sent" in point:
            low, high = ci.get(key, [float("nan")] * 2)
            gaps = (float(point.get(f"{prefix}gap_{which}", float("nan"))) for which in ("lungs_erased", "as_sent"))
            return ErasedChestAuc(float(point[key]), float(low), float(high), float(point[f"{prefix}auc_as_sent"]), adult, *gaps)
    return None


def lung_attention_caveats(record: Mapping[str, Any] | None) -> list[str]:
    """The warnings every answer of a model carries from its card's lung-attention record (trainer/attention_check.py):
    "where it looks" when its maps lie in the lungs no more than elsewhere, "what it reads" when its COVID-19 score
    still tells COVID-19 images apart with the chest erased; none without such a record or where neither holds.
    Records made before session 45 do not give the lungs' area, before session 46 the erased chest; each warning
    needs its figure. Where the map's warning holds and the erased score is within chance, the map's warning says so."""
    if not record or "mean_share" not in record:
        return []
    ct = record.get("lung_region") == CT_LUNG_REGION
    looks, erased = _looks_part(record, ct), lungs_erased_auc(record)
    if erased is not None and erased.reads_around_the_lungs:
        return [part for part in (looks, erased_chest_caveat(record, ct)) if part]
    if looks and erased is not None:  # the stronger test does not back the map's: say both
        why = ("an interval that reaches 0.50, chance" if erased.low <= 0.5 else
               f"its scores only {erased.gap:.2f} apart in mean p(COVID-19)")
        looks += (f" (but with the chest erased its COVID-19 score tells {_erased_pair(erased, ct)} with AUC "
                  f"{erased.erased:.2f} [{erased.low:.2f}, {erased.high:.2f}], {erased.as_sent:.2f} as sent, {why}: the "
                  f"lungs may carry its answer all the same)")
    return [looks] if looks else []


def _looks_part(record: Mapping[str, Any], ct: bool) -> str:
    if not record.get("mean_lung_area"):
        return ""
    share, area = float(record["mean_share"]), float(record["mean_lung_area"])
    if share >= LUNG_ATTENTION_LIFT_BAR * area:
        return ""
    images, region = ("slices" if ct else "images"), "region it reads"  # the whole image, or a lung box
    outside = ""
    if record.get("outside_body_share") is not None:
        outside = (f", and {record['outside_body_share']:.0%} outside the body (air, the table, labels), which is "
                   f"{record['mean_outside_area']:.0%} of it")
    return (f"where it looks: on its validation {images} {share:.0%} of this model's Grad-CAM attention lies inside the "
            f"lungs, which cover {area:.0%} of the {region}{outside}: it reads the lungs no more than the rest of the "
            f"{region}, so its answer may come from something other than the lungs")


def erased_chest_caveat(record: Mapping[str, Any] | None, ct: bool = False) -> str:
    """"what it reads: ..." where ``record``'s erased-chest AUC (its ``LUNGS_ERASED_KEY``: a lung-attention record, or
    the cascade's entry on stage 2's card) lies beyond chance; else ""."""
    found = lungs_erased_auc(record)
    return _reads_part(found, ct) if found is not None and found.reads_around_the_lungs else ""


def _images(found: ErasedChestAuc, ct: bool) -> str:
    return "slices" if ct else "films" if found.adult else "images"


def _erased_pair(found: ErasedChestAuc, ct: bool) -> str:
    return "adult COVID-19 films from adult normal ones" if found.adult else f"COVID-19 {_images(found, ct)} from the others"


def _reads_part(found: ErasedChestAuc, ct: bool) -> str:
    around = "the table, a figure's labels" if ct else "shoulders, neck, markers and labels"
    erased = "all of the body but its rim" if ct else "both lungs, the mediastinum and a margin"
    return (f"{READS}: with the chest erased from its validation {_images(found, ct)} ({erased} filled with one grey), "
            f"this model's COVID-19 score still tells {_erased_pair(found, ct)} with AUC "
            f"{found.erased:.2f} [{found.low:.2f}, {found.high:.2f}] ({found.as_sent:.2f} as sent, 0.50 for a model that "
            f"reads the lungs only){_gap_words(found, ct)}; part of its answer comes from outside what the lungs show (the "
            f"body's outline, {around}, or the outline of the lungs themselves)")


def _gap_words(found: ErasedChestAuc, ct: bool) -> str:
    if found.gap != found.gap:  # nan: a record made without the gap
        return ""
    return (f", the COVID-19 {_images(found, ct)} scoring {found.gap:.2f} higher in p(COVID-19) on average "
            f"({found.gap_as_sent:.2f} as sent)")
