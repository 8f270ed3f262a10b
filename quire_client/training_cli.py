"""The client's training commands: ``datasets``, ``train ... --remote``, ``trainings`` and
``models``; registered on ``main``'s parser, run by its one error boundary.

``quire train`` of the server CLI trains on this machine; the client's ``train`` asks the
server to (``--remote`` names that, so both can share the word).
"""

from __future__ import annotations

import argparse
import json
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from quire_client.api import QuireApi
from quire_client.datasets import PushOptions, run_push
from quire_client.listing import add_list_options, print_listing, query_of
from quire_client.progress import Progress
from quire_client.training_text import (
    describe_dataset,
    describe_training,
    model_header,
    model_row,
)
from quire_client.trainings import TrainingRequest, parse_option, start_training, watch_training

Command = Callable[[QuireApi, Namespace, Progress, TextIO], int]
SHOWN_PROBLEMS = 50  # ``datasets show``: the server keeps the first 200 (``--json``)


def _option(text: str) -> tuple[str, Any]:
    try:
        return parse_option(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _verbs(sub: Any, name: str, text: str) -> Any:
    return sub.add_parser(name, help=text).add_subparsers(dest="action", required=True)


def _register_datasets(sub: Any, common: argparse.ArgumentParser) -> None:
    verbs = _verbs(sub, "datasets", "ground truth to train on: push, list, show, delete")
    push = verbs.add_parser("push", parents=[common], help="send ground truth as a dataset")
    push.add_argument(
        "path",
        type=Path,
        nargs="?",
        help="a folder (its images and .xml zipped on the fly), a zip or a tar[.gz|.bz2|.xz]",
    )
    push.add_argument("--from-batch", metavar="ID", help="a batch's pages with their text")
    push.add_argument("--name", help="the dataset's name (default: the file or folder name)")
    push.add_argument("--wait", action="store_true", help="wait for the import; print figures")
    add_list_options(verbs.add_parser("list", parents=[common], help="your datasets"), "dataset")
    show = verbs.add_parser("show", parents=[common], help="a dataset's figures and problems")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="print the server's JSON")
    delete = verbs.add_parser("delete", parents=[common], help="delete a dataset")
    delete.add_argument("id")


def _register_train(sub: Any, common: argparse.ArgumentParser) -> None:
    train = sub.add_parser("train", parents=[common], help="train a model on the server")
    train.add_argument("kind", choices=["detector", "recognizer"])
    train.add_argument(
        "--remote", action="store_true", help="on the server (the client always trains there)"
    )
    train.add_argument("--dataset", required=True, metavar="ID", help="a ready dataset")
    train.add_argument("--name", help="the model's name (versions count up)")
    train.add_argument("--base-model", metavar="MODEL", help="a model of the same kind to tune")
    train.add_argument("--epochs", type=int, help="at most this many epochs")
    train.add_argument("--max-minutes", type=float, help="time budget; the best epoch is kept")
    train.add_argument("--val-fraction", type=float, help="fraction of pages held out")
    train.add_argument("--seed", type=int, help="seed of the validation split")
    train.add_argument("--val-dataset", metavar="ID", help="validate on this dataset instead")
    train.add_argument("--callback-url", help="webhook called when it ends")
    train.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a training option, e.g. batch_size=8, crop=polygon (repeatable)",
    )
    train.add_argument("--watch", action="store_true", help="follow it until it ends")
    train.epilog = "options not given keep the server's defaults"


def _register_trainings(sub: Any, common: argparse.ArgumentParser) -> None:
    verbs = _verbs(sub, "trainings", "trainings on the server: watch, list, show, cancel")
    for action, text in (
        ("watch", "follow a training epoch by epoch until it ends"),
        ("show", "a training's epochs and figures"),
        ("cancel", "cancel a training (a running one stops after its epoch)"),
    ):
        verb = verbs.add_parser(action, parents=[common], help=text)
        verb.add_argument("id")
        if action == "show":
            verb.add_argument("--json", action="store_true", help="print the server's JSON")
    add_list_options(verbs.add_parser("list", parents=[common], help="your trainings"), "training")


def _register_models(sub: Any, common: argparse.ArgumentParser) -> None:
    verbs = _verbs(sub, "models", "the models you can run: list, promote, delete")
    listing = verbs.add_parser("list", parents=[common], help="shipped and trained models")
    listing.add_argument("--kind", choices=["detector", "recognizer"], help="only this kind")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    for action, text in (
        ("promote", "make a model your default for its kind"),
        ("delete", "delete a trained model"),
    ):
        verbs.add_parser(action, parents=[common], help=text).add_argument("id")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``datasets``, ``train``, ``trainings`` and ``models`` to the client's parser."""
    _register_datasets(sub, common)
    _register_train(sub, common)
    _register_trainings(sub, common)
    _register_models(sub, common)


# --- the commands ---------------------------------------------------------------------------


def _push(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    options = PushOptions(args.path, args.from_batch, args.name, args.wait)
    return run_push(api, options, progress, out)


def _list(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    print_listing(api, query_of(args), args.json, out)
    return 0


def _show_dataset(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    dataset = api.get_dataset(args.id)
    shown = describe_dataset(dataset, SHOWN_PROBLEMS)
    print(json.dumps(dataset.raw, indent=2) if args.json else shown, file=out)
    return 0


def _delete_dataset(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    api.delete(f"/v1/datasets/{args.id}")
    progress.note(f"deleted dataset {args.id}")
    return 0


def _train(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    request = TrainingRequest(
        kind=args.kind,
        dataset_id=args.dataset,
        name=args.name,
        base_model=args.base_model,
        max_epochs=args.epochs,
        max_minutes=args.max_minutes,
        val_fraction=args.val_fraction,
        seed=args.seed,
        val_dataset=args.val_dataset,
        callback_url=args.callback_url,
        options=dict(args.option),
    )
    training = start_training(api, request, progress, out)
    return watch_training(api, training, progress, out) if args.watch else 0


def _watch(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    return watch_training(api, api.get_training(args.id), progress, out)


def _show_training(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    training = api.get_training(args.id)
    text = json.dumps(training.raw, indent=2) if args.json else describe_training(training)
    print(text, file=out)
    return 0


def _cancel(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    training = api.cancel_training(args.id)
    if training.terminal:
        progress.note(f"training {training.id}: {training.status}")
    else:
        progress.note(f"training {training.id}: cancel asked; it stops after its current epoch")
    return 0


def _models(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    models = [m for m in api.list_models() if args.kind in (None, m.kind)]
    if not args.json:
        print(model_header(), file=out)
    for model in models:
        print(json.dumps(model.raw) if args.json else model_row(model), file=out)
    return 0


def _promote(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    model = api.promote_model(args.id)
    progress.note(f"{model.id} ({model.name} v{model.version}) is your default {model.kind}")
    return 0


def _delete_model(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    api.delete(f"/v1/models/{args.id}")
    progress.note(f"deleted model {args.id}")
    return 0


ACTIONS: dict[tuple[str, str | None], Command] = {
    ("datasets", "push"): _push,
    ("datasets", "list"): _list,
    ("datasets", "show"): _show_dataset,
    ("datasets", "delete"): _delete_dataset,
    ("train", None): _train,
    ("trainings", "watch"): _watch,
    ("trainings", "list"): _list,
    ("trainings", "show"): _show_training,
    ("trainings", "cancel"): _cancel,
    ("models", "list"): _models,
    ("models", "promote"): _promote,
    ("models", "delete"): _delete_model,
}


def run_action(api: QuireApi, args: Namespace, progress: Progress, out: TextIO) -> int:
    """Run the training command the arguments name (``datasets push``, ``train``...)."""
    return ACTIONS[(args.command, getattr(args, "action", None))](api, args, progress, out)


COMMANDS: dict[str, Command] = {name: run_action for name, _ in ACTIONS}
