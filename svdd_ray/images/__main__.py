"""``python -m svdd_ray.images CONFIG.yaml OUT_DIR``: train and evaluate the digits prior."""

from svdd_ray.images.train import main

raise SystemExit(main())
