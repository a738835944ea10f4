using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AiHub.Data;
using AiHub.Infrastructure.Json;
using AiHub.Infrastructure.Outbound;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Generation.Jobs;

/// <summary>
/// The POST a job's <c>callbackUrl</c> gets when it ends: the job as the API describes it, signed
/// <c>AiHub-Signature: t={unix seconds},v1={hex HMAC-SHA256 of "{t}.{body}" with the job's secret}</c>, through the outbound policy.
/// </summary>
internal sealed partial class GenerationCallbacks(
    AppDbContext db,
    IHttpClientFactory http,
    IDataProtectionProvider protection,
    IOptions<GenerationSettings> settings,
    TimeProvider clock,
    ILogger<GenerationCallbacks> log)
{
    public const string SignatureHeader = "AiHub-Signature";

    /// <summary>Sends the callback once; true when there is none to send or the receiver answered 2xx.</summary>
    public async Task<bool> SendAsync(GenerationJob job, CancellationToken ct)
    {
        if (job.CallbackUrl is null || job.CallbackSecretProtected is null || job.CallbackSentAt is not null)
            return true;
        var outputs = await db.Set<GenerationOutput>().AsNoTracking().Where(o => o.OrganizationId == job.OrganizationId && o.JobId == job.Id)
            .OrderBy(o => o.Index).ToListAsync(ct);
        var body = JsonSerializer.Serialize(new { type = "generation." + GenerationStatuses.Name(job.Status), data = Generations.Describe(job, outputs) }, ApiJson.Options);
        var secret = protection.CreateProtector(Generations.CallbackProtectorPurpose).Unprotect(job.CallbackSecretProtected);
        var timestamp = clock.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        using var request = new HttpRequestMessage(HttpMethod.Post, job.CallbackUrl)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation(SignatureHeader, $"t={timestamp},v1={Sign(secret, timestamp, body)}");
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("AiHub-Callbacks", "1"));
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(settings.Value.CallbackTimeout);
            using var response = await http.CreateClient(OutboundPolicy.ClientName).SendAsync(request, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                LogRefused(job.Id, (int)response.StatusCode);
                return false;
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            LogFailed(job.Id, OutboundRefusedException.Caused(e) ? "the outbound policy refused its address" : e.GetType().Name);
            return false;
        }
        var now = clock.GetUtcNow();
        await db.Set<GenerationJob>().Where(j => j.OrganizationId == job.OrganizationId && j.Id == job.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.CallbackSentAt, now), CancellationToken.None);
        return true;
    }

    /// <summary>The hex HMAC-SHA256 of <c>{timestamp}.{body}</c>: what a receiver recomputes to trust the POST.</summary>
    public static string Sign(string secret, string timestamp, string body) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp}.{body}")));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Generation {JobId}: its callback answered {Status}; it will be sent again")]
    partial void LogRefused(Guid jobId, int status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Generation {JobId}: its callback could not be delivered ({Reason}); it will be sent again")]
    partial void LogFailed(Guid jobId, string reason);
}
