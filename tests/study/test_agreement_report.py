"""A Bradley-Terry fit that stops short is said in the study report, under its table and in the notes."""

from studio.study import agreement
from studio.study.report import report_markdown
from studio.study.statistics import analyse
from tests.study.test_statistics import RANKINGS, rank_definition, rank_row, summary


def rank_study(n_bootstrap: int = 20):
    rows = [rank_row(r, p, RANKINGS[p][r]) for p in range(3) for r in range(4)]
    return analyse(rank_definition(), rows, [summary(i) for i in range(4)], n_bootstrap=n_bootstrap)


def test_a_converged_fit_states_its_steps_and_warns_nothing():
    report = rank_study()
    (note,) = [n for n in report.notes if n.startswith("Bradley-Terry:")]
    assert "Newton steps to a tolerance of 1e-10" in note
    assert not [n for n in report.notes if n.startswith("Warning:")]


def test_an_unconverged_fit_is_a_warning_in_the_report(monkeypatch):
    real = agreement._fit_bt

    def one_step(*args, **kwargs):  # the fit as a capped run would leave it
        kwargs["max_iterations"] = 1
        return real(*args, **kwargs)

    monkeypatch.setattr(agreement, "_fit_bt", one_step)
    report = rank_study()
    warnings = [n for n in report.notes if n.startswith("Warning:")]
    assert warnings[0].startswith("Warning: Bradley-Terry did not converge in 1 iterations")
    assert warnings[1].startswith("Warning: 20 of 20 Bradley-Terry bootstrap fits did not converge")
    text = report_markdown(report)
    table_end = text.index("## Bradley-Terry")
    assert text.index("**Warning: Bradley-Terry did not converge", table_end) < text.index("## Notes")
