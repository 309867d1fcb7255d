import io.pathops.jenkins.GitopsRun
import io.pathops.jenkins.Inputs

/**
 * Commit the Fix Agent Job (seed step 6) with the per-incident image pinned by digest.
 * Documentation: scheduleFixAgent.txt.
 */
def call(Map userConfig = [:]) {
    Map cfg = GitopsRun.DEFAULTS + Inputs.endpoints(env) << userConfig
    Inputs.check(this, 'scheduleFixAgent', cfg, GitopsRun.RULES + [snapshotId: 'snapshotId'],
        GitopsRun.REQUIRED + ['incidentId', 'snapshotId'])
    if (!cfg.image.toString().contains('@sha256:')) {
        error('[scheduleFixAgent] image must be pinned by digest (name@sha256:...)')
    }
    withCredentials([string(credentialsId: cfg.gitlabCredentialsId, variable: 'GITLAB_TOKEN')]) {
        withEnv(GitopsRun.environment('fix-agent', cfg) + ["SNAPSHOT_ID=${cfg.snapshotId}".toString()]) {
            sh(label: 'gitops-patcher schedule fix-agent', script: 'gitops-patcher schedule')
        }
    }
}
