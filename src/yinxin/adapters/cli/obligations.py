"""``yinxin obligation …``: a signed contract's terms tracked after signing (docs/obligations.md).

``show`` a contract's obligations (due, overdue with the penalty to the day, met) as of today
or ``--as-of``; ``list`` them across contracts; ``track`` a signed contract now rather than at
the job's next run; record the facts that fix due dates (``event CONTRACT delivered --on
2026-02-12``: delivered, reminded, accepted, went_live; ``withdraw-event CONTRACT delivered
--reason …`` takes back the latest one, recorded by mistake) and money received (``pay CONTRACT
305000 --on 2026-04-20``, partial payments allowed); ``reverse-payment CONTRACT PAYMENT
--reason …`` takes back one recorded by mistake (冲正); ``remind`` runs the reminder job once.
Refusals name the field and exit with the error's code (2 invalid, 3 not found, 4 illegal
move, 6 conflict); nothing is written.
"""

from __future__ import annotations

from pathlib import Path

import typer

from yinxin.adapters.cli.common import (
    HOME,
    JSON,
    LIMIT,
    OWNED_CONTRACTS,
    Platform,
    as_options,
    console,
    more,
    on_platform,
    platform,
    run,
    say,
)

obligation_app = typer.Typer(
    no_args_is_help=True, help="Contract obligations (履约): due dates, payments, penalties."
)
CONTRACT = typer.Argument(..., help="The contract's id (see yinxin contract list).")
ACTOR = typer.Option("operator", "--actor", help="Who records it (kept in the audit trail).")
AS_OF = typer.Option(None, "--as-of", help="The day to count to (YYYY-MM-DD; default today).")


def _line(o) -> str:
    due = o.due_on.isoformat() if o.due_on else "待定"
    money = ""
    if o.amount is not None:
        money = f"  ¥{o.amount:,.2f} paid ¥{o.paid:,.2f}"
    text = f"  #{o.id} {o.debtor}{o.label}  {o.status}  due {due}{money}"
    if o.penalty:
        text += f"  penalty ¥{o.penalty:,.2f}"
    return text


def _show(v) -> None:
    say("[bold]contract {}[/] {} 《{}》 stage {}", v.contract_id, v.number, v.title, v.stage)
    if v.replayed:
        console.print("  已记录过 / already recorded: the same payment was not recorded again")
    console.print(f"  as of {v.as_of}; in effect since {v.effective_on}")
    for o in v.obligations:
        console.print(_line(o))
        console.print(f"     {o.due_explanation}", markup=False)
        if o.penalty_explanation:
            console.print(f"     违约金：{o.penalty_explanation}", markup=False)
        for pay in o.payments:
            ref = f" ({pay.reference})" if pay.reference else ""
            gone = f"  已冲正 / reversed: {pay.reversal_reason}" if pay.reversed_at else ""
            line = f"     付款 payment #{pay.id} {pay.paid_on} ¥{pay.amount:,.2f}{ref}{gone}"
            console.print(line, markup=False)
    # each party's penalties apart: 甲方's late payment and 乙方's late delivery never add up
    owed = ", ".join(f"{who} ¥{amount:,.2f}" for who, amount in v.penalty_by_debtor.items())
    console.print(
        f"  total ¥{v.total_due:,.2f}, paid ¥{v.total_paid:,.2f}, overdue "
        f"¥{v.total_overdue:,.2f}, penalties {owed or '¥0.00'}",
        markup=False,
    )
    if v.penalty_note:
        console.print(f"  {v.penalty_note}", markup=False)


@obligation_app.command("show")
@on_platform(_show)
def obligation_show(
    contract_id: int = CONTRACT,
    as_of: str | None = AS_OF,
    p: Platform = HOME,
) -> object:
    """A contract's obligations: due, overdue (penalty to the day, explained) and met."""
    return p.obligations.view(contract_id, as_of=as_of)


@obligation_app.command("list")
def obligation_list(
    status: str | None = typer.Option(None, help="pending, due, overdue or met."),
    owner: int | None = OWNED_CONTRACTS,
    as_of: str | None = AS_OF,
    limit: int = LIMIT,
    after: str | None = typer.Option(
        None, help="Continue after this obligation (next_after: DUE:CONTRACT:ID)."
    ),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Obligations across every tracked contract, soonest due first (those without a due date
    last), a page at a time ("more: --after …" says where the next page starts)."""

    def render(page) -> None:
        for o in page.items:
            console.print(f"{o.contract_number} {_line(o).strip()}", markup=False)
        more(page)

    run(
        as_json,
        lambda: as_options(
            {"owner_subscriber_id": "owner"},
            lambda: platform(home).obligations.overview(
                as_of=as_of, status=status, owner_subscriber_id=owner, after=after, limit=limit
            ),
        ),
        render,
    )


@obligation_app.command("track")
@on_platform(_show)
def obligation_track(contract_id: int = CONTRACT, actor: str = ACTOR, p: Platform = HOME) -> object:
    """Start tracking a signed contract's terms now (the job does it at its next run)."""
    return p.obligations.track(contract_id, actor=actor)


@obligation_app.command("event")
@on_platform(_show)
def obligation_event(
    contract_id: int = CONTRACT,
    event: str = typer.Argument(..., help="delivered, reminded, accepted or went_live."),
    on: str = typer.Option(..., "--on", help="The day it happened (YYYY-MM-DD)."),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Record a fact that fixes due dates; the due dates that wait for it follow."""
    return p.obligations.record(contract_id, event, on, actor=actor)


@obligation_app.command("withdraw-event")
@on_platform(_show)
def obligation_withdraw_event(
    contract_id: int = CONTRACT,
    event: str = typer.Argument(..., help="The latest fact recorded: delivered, reminded, …"),
    reason: str = typer.Option(..., "--reason", help="Why it was wrong (1–500 characters)."),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Take back the latest fact, recorded by mistake; then record it with the right day.

    What it met is open again and the due dates it fixed wait for it again; the audit trail
    keeps both. A deemed acceptance is the contract's rule, not a record: refused."""
    return p.obligations.withdraw(contract_id, event, reason=reason, actor=actor)


@obligation_app.command("pay")
@on_platform(_show)
def obligation_pay(
    contract_id: int = CONTRACT,
    amount: str = typer.Argument(..., help="Yuan received: 305000, 1,305,000.00."),
    on: str = typer.Option(..., "--on", help="The day it was received (YYYY-MM-DD)."),
    obligation: int | None = typer.Option(
        None, "--obligation", help="The payment obligation's id (default: the first unpaid)."
    ),
    reference: str | None = typer.Option(None, help="Bank reference or note (≤ 100)."),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Record money received; part of an instalment is allowed, more than is owed is not."""
    # --obligation refused (no such payment obligation, every one paid) named the service's
    # obligation_id, which no option is called
    return as_options(
        {"obligation_id": "obligation"},
        lambda: p.obligations.pay(
            contract_id, amount, on, obligation_id=obligation, reference=reference, actor=actor
        ),
    )


@obligation_app.command("reverse-payment")
@on_platform(_show)
def obligation_reverse_payment(
    contract_id: int = CONTRACT,
    payment: int = typer.Argument(..., help="The payment's id (obligation show lists them)."),
    reason: str = typer.Option(..., "--reason", help="Why it was wrong (1–500 characters)."),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """冲正: a payment recorded by mistake stops counting (its record stays); then record the
    right one with pay."""
    return as_options(  # the argument is PAYMENT, the service's field payment_id
        {"payment_id": "payment"},
        lambda: p.obligations.reverse_payment(contract_id, payment, reason=reason, actor=actor),
    )


@obligation_app.command("remind")
def obligation_remind(home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Run the reminder job once: track new contracts, deem acceptance, send due reminders."""

    def render(r) -> None:
        console.print(f"tracked {list(r.tracked)}, deemed {list(r.deemed)}, sent {list(r.sent)}")
        for f in r.failed:
            say("[yellow]failed:[/] {}", f)

    run(as_json, lambda: platform(home).obligations.remind_due(), render)
