"""Scratch: AdaBN on a run that held out a non-COVID source and a COVID-19 collection (a 'new site' with both classes).
Every held-out film is scored with statistics of the other half (by patient) of the held-out films; `rep` repeats the
COVID-19 films in the adaptation set (a site with a higher share of COVID-19)."""
import copy, sys, random
import numpy as np, torch
sys.path.insert(0, "/work/main")
exec(open("scripts/diagnostics/s52_adapted_norm_stats.py").read().split("p_covid = score")[0].replace("run = sys.argv[1]; modes", "run = sys.argv[1]; _m"))
from trainer.metrics import roc_auc
labels = np.array([r.csv_label or r.label for r in held.rows])
labels[labels == "covid"] = "COVID-19"
print("held labels", {l: int((labels == l).sum()) for l in set(labels)})

def figures(p):
    c, n, pn = p[labels == "COVID-19"], p[labels == "normal"], p[labels == "pneumonia"]
    return {"covid_found": round(float(np.mean(c >= thr)), 3), "normal_called": round(float(np.mean(n >= thr)), 3),
            "pneumonia_called": round(float(np.mean(pn >= thr)), 3),
            "auc_covid_vs_normal": round(roc_auc(np.r_[np.ones(len(c), bool), np.zeros(len(n), bool)], np.r_[c, n]), 3),
            "auc_covid_vs_pneumonia": round(roc_auc(np.r_[np.ones(len(c), bool), np.zeros(len(pn), bool)], np.r_[c, pn]), 3)}

print("thr", round(thr, 3), "unadapted:", figures(score(model, held, held.rows)))
patients = sorted({r.patient_id for r in held.rows}); random.Random(0).shuffle(patients)
fold = {p: i % 2 for i, p in enumerate(patients)}
for rep in (1, 4, 8):
    p = np.zeros(len(held.rows))
    for k in (0, 1):
        fit_rows = [r for r, l in zip(held.rows, labels) if fold[r.patient_id] != k for _ in range(rep if l == "COVID-19" else 1)]
        m = adapted(fit_rows, 0)
        idx = [i for i, r in enumerate(held.rows) if fold[r.patient_id] == k]
        p[idx] = score(m, held, [held.rows[i] for i in idx])
    share = sum(1 for r, l in zip(held.rows, labels) if l == "COVID-19") * rep
    print(f"adapted, COVID-19 films x{rep} (~{share / (share + len(held.rows) - share / rep):.0%} of the site set):", figures(p))
