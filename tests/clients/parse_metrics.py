"""Parses Prometheus text with prometheus_client's own parser (an outside parser nobody
here wrote) and prints what it read as JSON: each family's type and every sample.

Usage: parse_metrics.py FILE
Exits non-zero when the text does not parse, or a histogram is not a real one (no
buckets, no +Inf bucket, or a +Inf bucket that disagrees with _count).
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    families = {}
    samples = []
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        counts = {}
        infinite = {}
        buckets = 0
        for s in family.samples:
            samples.append({"name": s.name, "labels": s.labels, "value": s.value})
            if family.type == "histogram":
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                if s.name.endswith("_bucket"):
                    buckets += 1
                    if s.labels.get("le") == "+Inf":
                        infinite[key] = s.value
                elif s.name.endswith("_count"):
                    counts[key] = s.value
        if family.type == "histogram":
            if buckets == 0:
                sys.exit(f"{family.name}: a histogram without buckets")
            for key, count in counts.items():
                if infinite.get(key) != count:
                    sys.exit(f"{family.name}{dict(key)}: +Inf bucket {infinite.get(key)} != count {count}")
    json.dump({"families": families, "samples": samples}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
