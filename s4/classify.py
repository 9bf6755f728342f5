"""Classify stage: which record class is this, how sure are we, and why.

Two sources of evidence, combined:

* **Rules** from the retention schedule: each class's keywords, phrases and reference
  patterns, with weights, matched in a way that tolerates OCR noise (fuzzy matching on
  normalised text). Rules work from day one and generalise to wording nobody has seen.
* **A model** (scikit-learn: character n-gram TF-IDF + logistic regression) trained on the
  decisions records managers confirm. It is stored as plain JSON (no pickle: loading it
  cannot run code) and its SHA-256 is checked against the database before use.

S4 would rather ask than misfile: a document is filed automatically only when the
combined confidence reaches the pipeline's threshold *and* the rules found real evidence.
Everything else — including junk that turns up in boxes — goes to the review queue.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

NONE_CLASS = "(none)"
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
_MONTH_ABBREVIATIONS = {name[:3]: number for number, name in enumerate(MONTHS, start=1)}
_WORDY_DATE = re.compile(
    r"\b(\d{1,2})\s*(?:st|nd|rd|th)?\s+([A-Za-z]{3,10})\.?,?\s+((?:19|20)\d{2})\b")
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})\s?[/.\-]\s?(\d{1,2})\s?[/.\-]\s?((?:19|20)?\d{2})\b")
_DOCUMENT_DATE_LABEL = re.compile(r"\b(date[d]?|issued|date of (?:letter|issue|notice|decision|"
                                  r"meeting|request|complaint))\b[^\n]{0,12}$", re.IGNORECASE)
_NOT_DOCUMENT_DATE = re.compile(r"(birth|d\.?o\.?b|born|due|expir|commenc|start|end of|until|"
                                r"from|period|deadline|by)\W*[^\n]{0,12}$", re.IGNORECASE)


def normalise(text: str) -> str:
    """Lower case, letters and digits only, single spaces: what OCR noise cannot change much."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def text_fingerprint(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class FoundDate:
    value: date
    position: int
    labelled: bool


def _month(word: str) -> int | None:
    word = word.lower()
    if word[:3] in _MONTH_ABBREVIATIONS and (len(word) <= 4 or word in MONTHS):
        return _MONTH_ABBREVIATIONS[word[:3]]
    if len(word) >= 4:  # OCR noise: "Marcn", "Septernber"
        match = process.extractOne(word, MONTHS, scorer=fuzz.ratio, score_cutoff=80)
        if match:
            return MONTHS.index(match[0]) + 1
    return None


def _valid(year: int, month: int, day: int, today: date) -> date | None:
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    if value.year < 1900 or value > date(today.year + 1, today.month, min(today.day, 28)):
        return None
    return value


def find_dates(text: str, today: date | None = None) -> list[FoundDate]:
    """UK dates in reading order: "3 March 2021", "3 Mar 2021", "03/03/2021" — always day first."""
    today = today or date.today()
    found: list[FoundDate] = []
    for match in _WORDY_DATE.finditer(text):
        month = _month(match.group(2))
        if month:
            value = _valid(int(match.group(3)), month, int(match.group(1)), today)
            if value:
                found.append(FoundDate(value, match.start(), False))
    for match in _NUMERIC_DATE.finditer(text):
        year = int(match.group(3))
        if year < 100:
            year += 2000 if year <= today.year % 100 + 1 else 1900
        value = _valid(year, int(match.group(2)), int(match.group(1)), today)
        if value:
            found.append(FoundDate(value, match.start(), False))
    labelled = []
    for item in sorted(found, key=lambda f: f.position):
        before = text[max(0, item.position - 40):item.position]
        line_before = before.rsplit("\n", 1)[-1]
        if _NOT_DOCUMENT_DATE.search(line_before):
            continue  # a date of birth, a due date or a period is not the document's date
        labelled.append(FoundDate(item.value, item.position,
                                  bool(_DOCUMENT_DATE_LABEL.search(line_before))))
    return labelled


def document_date(text: str, today: date | None = None) -> date | None:
    """The labelled date if there is one ("Date: …"), else the first date in the text."""
    dates = find_dates(text, today)
    for item in dates:
        if item.labelled:
            return item.value
    return dates[0].value if dates else None


def extract_references(text: str, record_class: Any) -> list[str]:
    """The class's reference patterns (asset ids) found in the text, normalised by the
    schedule (the ``ref`` group when a pattern has a label around the id)."""
    return record_class.recognition.find_references(text)


# --------------------------------------------------------------------------- rules


@dataclass
class Evidence:
    kind: str  # keyword, phrase, pattern, negative
    term: str
    weight: float


@dataclass
class ClassScore:
    class_id: str
    score: float
    evidence: list[Evidence] = field(default_factory=list)


NEGATIONS = frozenset({"no", "not", "non", "nil", "none", "never", "without"})


def _has_term(term: str, tokens: set[str], flat: str) -> bool:
    norm = normalise(term)
    if not norm:
        return False
    if " " not in norm:
        if norm in tokens:
            return True
        if len(norm) >= 6:  # tolerate one or two OCR slips in longer words
            return process.extractOne(norm, tokens, scorer=fuzz.ratio, score_cutoff=88) \
                is not None
        return False
    if f" {norm} " in f" {flat} ":
        return True
    # Fuzzy only for long phrases: short ones ("council tax") would fire on look-alikes
    # ("the council that"); those are matched exactly or by OCR-tolerant patterns.
    if len(norm) < 14:
        return False
    match = fuzz.partial_ratio_alignment(norm, flat, score_cutoff=90)
    if match is None:
        return False
    # A slip may change a letter, never the sense: "no planning permission" must not fire on
    # "of planning permission", nor "no further action" on "further action will be taken".
    negations = NEGATIONS.intersection(norm.split())
    return not negations or negations <= set(flat[match.dest_start:match.dest_end].split())


def score_rules(text: str, schedule: Any) -> list[ClassScore]:
    flat = normalise(text)
    tokens = set(flat.split())
    scores = []
    for record_class in schedule.classes:
        recognition = record_class.recognition
        evidence: list[Evidence] = []
        for kind, terms in (("keyword", recognition.keywords), ("phrase", recognition.phrases)):
            for term, weight in terms.items():
                if _has_term(term, tokens, flat):
                    evidence.append(Evidence(kind, term, weight))
        for pattern in recognition.patterns:
            if re.search(pattern.regex, text):
                evidence.append(Evidence("pattern", pattern.name, pattern.weight))
        for term, weight in recognition.negative.items():
            if _has_term(term, tokens, flat):
                evidence.append(Evidence("negative", term, -abs(weight)))
        if evidence:
            scores.append(ClassScore(record_class.id, sum(e.weight for e in evidence), evidence))
    return sorted(scores, key=lambda s: s.score, reverse=True)


def rule_probabilities(scores: list[ClassScore], min_evidence: float,
                       temperature: float) -> dict[str, float]:
    """Softmax over class scores plus a "none of these" option scored at ``min_evidence``.

    Weak evidence therefore leaves most probability on "none", and two close classes share
    it — both end in review rather than a guess.
    """
    logits = {s.class_id: s.score / temperature for s in scores if s.score > 0}
    logits[NONE_CLASS] = min_evidence / temperature
    peak = max(logits.values())
    weights = {k: math.exp(v - peak) for k, v in logits.items()}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


# --------------------------------------------------------------------------- the model


class ModelIntegrityError(Exception):
    pass


@dataclass
class TextModel:
    """TF-IDF + logistic regression, held as plain numbers so it can be stored as JSON."""

    classes: list[str]
    vectorizer_params: dict[str, Any]
    vocabulary: dict[str, int]
    idf: list[float]
    coef: list[list[float]]
    intercept: list[float]
    samples: int = 0
    # What it learnt from, so `classify evaluate` can say when it is marking its own homework.
    fingerprints: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)

    @classmethod
    def train(cls, texts: list[str], labels: list[str],
              templates: list[str] | None = None) -> TextModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        params = {"analyzer": "char_wb", "ngram_range": [3, 5], "sublinear_tf": True,
                  "max_features": 20000, "lowercase": True}
        vectorizer = TfidfVectorizer(**{**params, "ngram_range": tuple(params["ngram_range"])})
        matrix = vectorizer.fit_transform([normalise(t) for t in texts])
        model = LogisticRegression(max_iter=2000, C=4.0)
        model.fit(matrix, labels)
        coef = model.coef_.tolist()
        intercept = model.intercept_.tolist()
        classes = [str(c) for c in model.classes_]
        if len(classes) == 2:  # binary LR keeps one row; expand so scoring is uniform
            coef = [[-v for v in coef[0]], coef[0]]
            intercept = [-intercept[0], intercept[0]]
        return cls(classes, params, {k: int(v) for k, v in vectorizer.vocabulary_.items()},
                   vectorizer.idf_.tolist(), coef, intercept, len(texts),
                   sorted({text_fingerprint(t) for t in texts}),
                   sorted({t for t in templates or [] if t}))

    def seen(self, text: str) -> bool:
        """Whether this exact text (after normalising) was one it was trained on."""
        return text_fingerprint(text) in self._trained_on

    @cached_property
    def _trained_on(self) -> frozenset[str]:
        return frozenset(self.fingerprints)

    def probabilities(self, text: str) -> dict[str, float]:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        params = {**self.vectorizer_params, "ngram_range": tuple(self.vectorizer_params[
            "ngram_range"])}
        params.pop("max_features", None)
        vectorizer = TfidfVectorizer(vocabulary=self.vocabulary, **params)
        vectorizer.idf_ = np.asarray(self.idf)
        vector = vectorizer.transform([normalise(text)])
        logits = vector @ np.asarray(self.coef).T + np.asarray(self.intercept)
        logits = np.asarray(logits).ravel()
        exp = np.exp(logits - logits.max())
        probs = exp / exp.sum()
        return {label: float(p) for label, p in zip(self.classes, probs, strict=True)}

    def save(self, path: Path) -> str:
        payload = json.dumps(asdict(self), separators=(",", ":")).encode("utf-8")
        temporary = path.with_suffix(".partial")
        temporary.write_bytes(payload)
        temporary.replace(path)
        return hashlib.sha256(payload).hexdigest()

    @classmethod
    def load(cls, path: Path, expected_sha256: str) -> TextModel:
        """Load only a file whose SHA-256 matches what was recorded when it was trained."""
        payload = path.read_bytes()
        actual = hashlib.sha256(payload).hexdigest()
        if actual != expected_sha256:
            raise ModelIntegrityError(
                f"{path}: SHA-256 {actual[:12]}… does not match the recorded "
                f"{expected_sha256[:12]}…; the model file was changed outside S4. Retrain with "
                "`s4 classify train`."
            )
        return cls(**json.loads(payload))


# --------------------------------------------------------------------------- decision


@dataclass
class Classification:
    proposed_class: str | None
    confidence: float
    auto_file: bool
    decided_by: str  # rules, rules+model
    reason: str  # why it was filed, or why it needs review
    alternatives: list[tuple[str, float]]
    evidence: list[dict[str, Any]]
    model_probability: float | None
    document_date: date | None
    references: list[str]

    def explanation(self) -> dict[str, Any]:
        return {
            "proposed_class": self.proposed_class, "confidence": round(self.confidence, 3),
            "decided_by": self.decided_by, "reason": self.reason,
            "evidence": self.evidence,
            "model_probability": None if self.model_probability is None
            else round(self.model_probability, 3),
            "alternatives": [[c, round(p, 3)] for c, p in self.alternatives],
            "document_date": self.document_date.isoformat() if self.document_date else None,
            "references": self.references,
        }


def pool_with_model(rules: dict[str, float], model_probs: dict[str, float],
                    weight: float) -> dict[str, float]:
    """Log-linear pooling: the model's probability, relative to knowing nothing (uniform),
    multiplies the rules' probability, raised to ``weight``.

    A model that has not learnt much (near uniform) leaves the rules' decision as it is; one
    that agrees makes S4 surer; one that disagrees makes it less sure, so the record goes to
    review. Classes the model never saw, and "none of these", count as uninformative.
    """
    uniform = 1 / max(len(model_probs), 1)
    logits = {}
    for class_id, probability in rules.items():
        factor = uniform if class_id == NONE_CLASS else model_probs.get(class_id, uniform)
        logits[class_id] = math.log(max(probability, 1e-12)) + weight * math.log(
            max(factor, 1e-12) / uniform)
    peak = max(logits.values())
    weights = {k: math.exp(v - peak) for k, v in logits.items()}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


@dataclass
class ClassifySettings:
    threshold: float = 0.8
    min_evidence: float = 5.0
    temperature: float = 2.0
    model_weight: float = 0.5


def classify(text: str, schedule: Any, settings: ClassifySettings,
             model: TextModel | None = None, today: date | None = None) -> Classification:
    scores = score_rules(text, schedule)
    rules = rule_probabilities(scores, settings.min_evidence, settings.temperature)
    combined = dict(rules)
    model_probs = None
    decided_by = "rules"
    if model is not None:
        model_probs = model.probabilities(text)
        decided_by = "rules+model"
        combined = pool_with_model(rules, model_probs, settings.model_weight)
    ranked = sorted(((c, p) for c, p in combined.items() if c != NONE_CLASS),
                    key=lambda item: item[1], reverse=True)
    best_score = scores[0] if scores else None
    proposed, confidence = (ranked[0] if ranked else (None, 0.0))
    evidence = [asdict(e) for e in best_score.evidence] if best_score and \
        best_score.class_id == proposed else []
    if proposed is not None and best_score is not None and best_score.class_id != proposed:
        evidence = [asdict(e) for s in scores if s.class_id == proposed for e in s.evidence]
    rule_score = sum(e["weight"] for e in evidence)
    record_class = schedule.get(proposed) if proposed else None
    references = extract_references(text, record_class) if record_class else []
    doc_date = document_date(text, today)
    if proposed is None or rule_score < settings.min_evidence:
        auto_file = False
        reason = ("no record class recognised: not enough evidence (blank page, junk, or a "
                  "kind of record the schedule does not describe)")
    elif confidence < settings.threshold:
        auto_file = False
        runner = ranked[1] if len(ranked) > 1 else (NONE_CLASS, combined[NONE_CLASS])
        reason = (f"confidence {confidence:.2f} is under the threshold {settings.threshold:.2f}"
                  f" (runner-up {runner[0]} at {runner[1]:.2f})")
    else:
        auto_file = True
        reason = f"confidence {confidence:.2f} ≥ threshold {settings.threshold:.2f}"
    return Classification(
        proposed_class=proposed, confidence=confidence, auto_file=auto_file,
        decided_by=decided_by, reason=reason, alternatives=ranked[1:4], evidence=evidence,
        model_probability=model_probs.get(proposed) if model_probs and proposed else None,
        document_date=doc_date, references=references,
    )
