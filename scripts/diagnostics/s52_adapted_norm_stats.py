"""Scratch: AdaBN on a leave-one-source-out run. Batch-norm statistics re-estimated on the held-out source's own
films (unlabelled; 2-fold by patient, so no film is scored with statistics it was in), then the held-out films scored;
validation COVID-19 films scored with the original statistics (they come from training hospitals). Threshold: the run's."""
import copy, sys, json, random
import numpy as np, torch
sys.path.insert(0, "/work/main")
from trainer.trained import load_trained
from trainer.config import recipe_from_dict
from trainer.data.build import load_data, make_dataset
from trainer.style_stress import adult_subset
from trainer.tasks import make_task
from trainer.evaluation import _loader, predict_logits
from trainer.held_out_source import held_out_check
from trainer.held_out_restyled import restyled_figures

run = sys.argv[1]; modes = sys.argv[2].split(","); ks = [int(k) for k in sys.argv[3].split(",")]
D = "/work/shared/data"
csvs = [f"{D}/cxr/labels.csv", f"{D}/cxr_adult/labels.csv"]
torch.set_num_threads(2)
check = held_out_check(run)
thr = check["threshold"]
trained = load_trained(run)
recipe = recipe_from_dict(trained.recipe)
task = make_task(trained.spec, recipe["task"], recipe["method"])
model = trained.model.float().eval()
covid = list(trained.spec.classes).index("COVID-19")
held = adult_subset(make_dataset(trained.spec, recipe.values, load_data(trained.spec, recipe, csvs, eval_split="test"), "test", False))
val = make_dataset(trained.spec, recipe.values, load_data(trained.spec, recipe, csvs, eval_split="val"), "val", False)
covid_rows = [r for r in adult_subset(val).rows if r.label == "COVID-19"]

def score(m, ds, rows):
    sub = copy.copy(ds); sub.rows = rows
    logits, _ = predict_logits(m, task, sub, torch.device("cpu"), 64)
    return task.probabilities(logits).numpy()[:, covid].astype(float)

@torch.no_grad()
def adapted(rows, k):
    m = copy.deepcopy(model).eval()
    bns = [mod for mod in m.modules() if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm)]
    for mod in (bns if k == 0 else bns[:k]):
            mod.reset_running_stats(); mod.momentum = None; mod.train()
    sub = copy.copy(held); sub.rows = rows
    for batch in _loader(sub, 64):
        task.predict(m, batch)
    return m.eval()

p_covid = score(model, val, covid_rows)
labels = [r.csv_label or r.label for r in held.rows]
base = score(model, held, held.rows)
print("n held", len(held.rows), "covid val", len(covid_rows), "thr", round(thr, 3))
print("unadapted:", json.dumps(restyled_figures(base, labels, p_covid, thr)))
patients = sorted({r.patient_id for r in held.rows}); random.Random(0).shuffle(patients)
fold = {p: i % 2 for i, p in enumerate(patients)}
for mode in modes:
  for kk in ks:
    p = np.zeros(len(held.rows))
    for k in (0, 1):
        fit_rows = [r for r in held.rows if fold[r.patient_id] != k]
        if mode != "all":
            fit_rows = [r for r in fit_rows if (r.csv_label or r.label) == mode]
        m = adapted(fit_rows, kk)
        idx = [i for i, r in enumerate(held.rows) if fold[r.patient_id] == k]
        p[idx] = score(m, held, [held.rows[i] for i in idx])
    f = restyled_figures(p, labels, p_covid, thr)
    print(f"adapted on {mode}, first {kk or 'all'} BN:", {a: round(b, 3) for a, b in f.items()})
