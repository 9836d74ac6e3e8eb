"""Train an SVDD-MC value network for the model and reward named in an engine config.

    python jobs/train_value.py --config configs/digits_compressibility.yaml \
        --network svdd_ray.images.value_net:DigitsValueNet --out checkpoints/digits/value_compressibility.pt

Steps (the paper's Monte Carlo regression): run ``--rollouts`` pretrained rollouts of the
config's model and label every intermediate state x_t with the reward of its rollout's final
sample (``svdd_ray.values.collect_rollouts``; the reward is the config's weighted sum of
components, scored in-process), fit ``v(x_t, t)`` by least squares
(``train_value_network``, one optimiser for all epochs), save it (``save_value_network``).

Early stopping: states near t = T are nearly the rollout's initial noise, which identifies the
rollout, so a network can memorise the training rewards there instead of learning
E[r(x0) | x_t]. After each epoch the MSE on ``--val-rollouts`` independent rollouts (seed + 2)
is measured and the best epoch's weights are kept (stop after ``--patience`` epochs without
improvement). A third independent set of ``--heldout-rollouts`` rollouts (seed + 1), never used
for any choice, measures the final regression error against the trivial predictor "the training
mean", overall and by step.

The checkpoint plugs into the engine with
``value: {kind: mc, network: {target: <--network>, options: <--network-options>}, checkpoint: <--out>}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from svdd_ray.config import ConfigError, load_config
from svdd_ray.engine.runner import build_model
from svdd_ray.plugins import build
from svdd_ray.rewards import reward_function
from svdd_ray.values import (
    Rollouts,
    ValueNetwork,
    check_training,
    collect_rollouts,
    save_value_network,
    train_value_network,
)

#: Held-out errors are also reported for these ranges of t / T (reverse time: small = nearly clean).
T_BINS = [(0.0, 0.1), (0.1, 0.3), (0.3, 0.6), (0.6, 1.0)]


@torch.no_grad()
def predict(value_net: ValueNetwork, x: torch.Tensor, t: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Values of ``x`` at ``t`` on the network's device, returned on the CPU (rollouts live there)."""
    device = next(value_net.parameters()).device
    out = [
        value_net(x[i : i + batch_size].to(device), t[i : i + batch_size].to(device)).cpu()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(out).float()


def regression_report(value_net: ValueNetwork, heldout, train_mean: float, num_steps: int) -> dict:
    """Held-out MSE of the network and of the constant ``train_mean``, overall and per t / T range."""
    value_net.eval()
    pred = predict(value_net, heldout.x, heldout.t)
    err_net = (pred - heldout.reward) ** 2
    err_mean = (train_mean - heldout.reward) ** 2
    frac = heldout.t.float() / num_steps

    def row(mask: torch.Tensor) -> dict:
        net, base = float(err_net[mask].mean()), float(err_mean[mask].mean())
        return {"states": int(mask.sum()), "mse_net": net, "mse_mean": base, "ratio": net / base if base else None}

    report = {"all": row(torch.ones_like(frac, dtype=torch.bool))}
    for low, high in T_BINS:
        report[f"t/T in ({low}, {high}]"] = row((frac > low) & (frac <= high))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="engine config naming the model and reward")
    parser.add_argument("--out", required=True, help="where to save the value network checkpoint")
    parser.add_argument(
        "--network", help="value network: a built-in name or 'pkg.module:Class' (default: the config's value.network)"
    )
    parser.add_argument("--network-options", default=None, help="JSON kwargs for the network (default: config's)")
    parser.add_argument("--rollouts", type=int, default=4000, help="pretrained rollouts to train on")
    parser.add_argument("--rollouts-cache", help="directory to keep collected rollouts in, for reruns")
    parser.add_argument(
        "--states-per-rollout",
        type=int,
        default=None,
        help="train on this many random states of each rollout (default: all)",
    )
    parser.add_argument("--heldout-rollouts", type=int, default=500, help="independent rollouts for evaluation")
    parser.add_argument("--val-rollouts", type=int, default=500, help="independent rollouts for early stopping")
    parser.add_argument("--epochs", type=int, default=20, help="at most this many epochs")
    parser.add_argument("--patience", type=int, default=2, help="stop after this many epochs without improvement")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--metrics", help="also write the training and held-out numbers as JSON here")
    parser.add_argument("overrides", nargs="*", help="dotted.key=value config overrides")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        check_training(args.epochs, patience=args.patience)
        config = load_config(args.config, args.overrides)
        network = config.value.network
        network_name = args.network or (network and network.target)
        if network_name is None:
            raise ConfigError("--network is required (the config has no value.network)")
        options = json.loads(args.network_options) if args.network_options else dict(network.options if network else {})
        began = time.perf_counter()
        model = build_model(config)
        reward = reward_function(config.reward.components)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    def rollouts(num: int, seed: int, per_rollout: int | None = None) -> Rollouts:
        """Collected, or loaded from ``--rollouts-cache`` when made there with the same settings."""
        key = {
            "config": str(args.config),
            "overrides": args.overrides,
            "num": num,
            "seed": seed,
            "per_rollout": per_rollout,
        }
        path = Path(args.rollouts_cache) / f"rollouts-{seed}-{num}-{per_rollout}.pt" if args.rollouts_cache else None
        if path is not None and path.is_file():
            saved = torch.load(path, weights_only=True)
            if saved["key"] == key:
                return Rollouts(saved["x"], saved["t"], saved["reward"])
        data = collect_rollouts(model, reward, num_rollouts=num, seed=seed, states_per_rollout=per_rollout)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"key": key, "x": data.x, "t": data.t, "reward": data.reward}, path)
        return data

    data = rollouts(args.rollouts, args.seed, args.states_per_rollout)
    heldout = rollouts(args.heldout_rollouts, args.seed + 1)
    val = rollouts(args.val_rollouts, args.seed + 2)
    rollout_s = time.perf_counter() - began
    train_mean, train_std = float(data.reward.mean()), float(data.reward.std())
    print(
        f"rollouts: {args.rollouts} train / {args.heldout_rollouts} held-out "
        f"({len(data.reward)} training states), reward mean {train_mean:.3f} std {train_std:.3f}, {rollout_s:.0f} s"
    )

    torch.manual_seed(args.seed)
    net = build("value network", network_name, options, key="--network")
    if hasattr(net, "set_target_stats"):
        net.set_target_stats(train_mean, train_std)
    device = getattr(model, "device", torch.device("cpu"))
    value_net = ValueNetwork(net, model.num_steps).to(device)
    fit_began = time.perf_counter()

    def report_epoch(epoch: int, train_mse: float, val_mse: float | None) -> None:
        print(f"epoch {epoch}: train MSE {train_mse:.4g}, validation MSE {val_mse:.4g}", flush=True)

    fit = train_value_network(
        value_net,
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        validation=val,
        patience=args.patience,
        on_epoch=report_epoch,
    )
    fit_s = time.perf_counter() - fit_began
    report = regression_report(value_net, heldout, train_mean, model.num_steps)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_value_network(value_net.cpu(), args.out)

    print(
        f"kept epoch {fit.best_epoch} of {fit.epochs_run} (validation MSE {fit.best_val_loss:.4g}); "
        f"training took {fit_s:.0f} s"
    )
    print("held-out regression error (MSE; ratio < 1 beats predicting the training mean):")
    for name, row in report.items():
        print(
            f"  {name:22s} states {row['states']:6d}  net {row['mse_net']:9.4g}  mean {row['mse_mean']:9.4g}  "
            f"ratio {row['ratio']:.3f}"
        )
    params = sum(p.numel() for p in net.parameters())
    print(f"saved {args.out} ({params} parameters, {Path(args.out).stat().st_size / 1e3:.0f} kB)")
    if args.metrics:
        payload = {
            "config": args.config,
            "overrides": args.overrides,
            "network": network_name,
            "network_options": options,
            "parameters": params,
            "rollouts": args.rollouts,
            "states_per_rollout": args.states_per_rollout,
            "heldout_rollouts": args.heldout_rollouts,
            "val_rollouts": args.val_rollouts,
            "epochs_run": fit.epochs_run,
            "best_epoch": fit.best_epoch,
            "val_mse_by_epoch": fit.val_loss,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": args.seed,
            "reward_mean": train_mean,
            "reward_std": train_std,
            "train_mse_by_epoch": fit.train_loss,
            "heldout": report,
            "rollout_s": rollout_s,
            "fit_s": fit_s,
        }
        Path(args.metrics).write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
